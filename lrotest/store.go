package lrotest

import (
	"testing"

	"github.com/lrokit/lro"
)

// TestStore runs the conformance suite for lro.Store implementations. Every
// case is a subtest that gets a new, empty store from newStore; newStore
// should register any cleanup it needs with t.Cleanup.
func TestStore(t *testing.T, newStore func(t *testing.T) lro.Store) {
	t.Helper()
	groups := []struct {
		name  string
		cases []storeCase
	}{
		{"Create", []storeCase{
			{"ReturnsStoredCopy", testCreateReturnsStored},
			{"MinimalRecord", testCreateMinimal},
			{"AlreadyExists", testCreateAlreadyExists},
			{"RequestIDDedupe", testCreateRequestIDDedupe},
			{"RequestIDPerParent", testCreateRequestIDPerParent},
			{"EmptyRequestIDNeverDedupes", testCreateEmptyRequestID},
			{"RequestIDFreedByDelete", testCreateRequestIDFreedByDelete},
			{"RequestIDFreedByExpiry", testCreateRequestIDFreedByExpiry},
			{"ConcurrentRequestID", testCreateConcurrentRequestID},
			{"ConcurrentSameName", testCreateConcurrentSameName},
		}},
		{"Copies", []storeCase{
			{"CreateInput", testCopiesCreateInput},
			{"Returned", testCopiesReturned},
		}},
		{"Get", []storeCase{
			{"NotFound", testGetNotFound},
		}},
		{"Update", []storeCase{
			{"Persists", testUpdatePersists},
			{"FnError", testUpdateFnError},
			{"NotFound", testUpdateNotFound},
			{"Concurrent", testUpdateConcurrent},
		}},
		{"Delete", []storeCase{
			{"Removes", testDeleteRemoves},
			{"NotFound", testDeleteNotFound},
		}},
		{"List", []storeCase{
			{"Order", testListOrder},
			{"TiesByteOrder", testListTiesByteOrder},
			{"Parent", testListParent},
			{"After", testListAfter},
			{"Limit", testListLimit},
			{"Filter", testListFilter},
			{"Budget", testListBudget},
			{"BudgetEnd", testListBudgetEnd},
			{"BudgetKeyset", testListBudgetKeyset},
			{"Done", testListDone},
			{"AfterUpdate", testListAfterUpdate},
			{"KeysetPaging", testListKeyset},
		}},
		{"DeleteExpired", []storeCase{
			{"Selects", testDeleteExpiredSelects},
			{"Limit", testDeleteExpiredLimit},
			{"AfterUpdate", testDeleteExpiredAfterUpdate},
		}},
		{"OwnerLeases", []storeCase{
			{"Exclusive", testRegisterExclusive},
			{"TakesOverLapsed", testRegisterTakesOverLapsed},
			{"RenewLapsed", testRenewLapsed},
			{"Release", testRelease},
			{"RenewWritesNoRecord", testRenewWritesNoRecord},
		}},
		{"ClaimExpired", []storeCase{
			{"Selects", testClaimExpiredSelects},
			{"Limit", testClaimExpiredLimit},
			{"AfterUpdate", testClaimExpiredAfterUpdate},
			{"AfterRegister", testClaimExpiredAfterRegister},
			{"Concurrent", testClaimExpiredConcurrent},
			{"Notifies", testClaimExpiredNotifies},
		}},
		{"ClaimQueued", []storeCase{
			{"Selects", testClaimQueuedSelects},
			{"Limits", testClaimQueuedLimits},
			{"Overdue", testClaimQueuedOverdue},
			{"Concurrent", testClaimQueuedConcurrent},
		}},
		{"ListOwned", []storeCase{
			{"SelectsAndPages", testListOwned},
		}},
		{"Watch", []storeCase{
			{"UpdateAndDelete", testWatchUpdateAndDelete},
			{"Stop", testWatchStop},
			{"OtherNames", testWatchOtherNames},
			{"DeleteExpired", testWatchDeleteExpired},
		}},
		// Optional interfaces: checked when the store implements them.
		{"Finisher", []storeCase{
			{"Finishes", testFinisher},
			{"Refuses", testFinisherRefuses},
			{"Concurrent", testFinisherConcurrent},
		}},
		{"CancelRequestLister", []storeCase{
			{"Selects", testCancelRequestLister},
		}},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					c.run(t, newStore(t))
				})
			}
		})
	}
}

// storeCase is one conformance check run against a fresh store.
type storeCase struct {
	name string
	run  func(t *testing.T, s lro.Store)
}
