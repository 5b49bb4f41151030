package lro

// Error reasons (AIP-193). Every error status the library returns, and
// every error status of an operation the library itself ends, carries a
// google.rpc.ErrorInfo whose Reason is one of these constants, whose Domain
// is the Manager's error domain (WithErrorDomain) and whose Metadata names
// what the error is about (see the metadata keys below). Invalid request
// fields also carry a google.rpc.BadRequest naming the field.
//
//	Reason                      Code                 When
//	OPERATION_NOT_FOUND         NOT_FOUND            the operation does not exist, expired, or the Authorizer hides it
//	OPERATION_ALREADY_EXISTS    ALREADY_EXISTS       the store already holds an operation of that name
//	INVALID_OPERATION_NAME      INVALID_ARGUMENT     a malformed operation name (BadRequest field "name")
//	INVALID_COLLECTION          INVALID_ARGUMENT     a malformed List name (BadRequest field "name")
//	INVALID_PARENT              INVALID_ARGUMENT     a malformed WithParent
//	INVALID_FILTER              INVALID_ARGUMENT     a bad List filter (BadRequest field "filter", with the column)
//	INVALID_PAGE_TOKEN          INVALID_ARGUMENT     a garbage, tampered or foreign page token (field "page_token")
//	INVALID_PAGE_SIZE           INVALID_ARGUMENT     a negative page size (field "page_size")
//	PARTIAL_SUCCESS_UNSUPPORTED UNIMPLEMENTED        a List that asks for return_partial_success
//	INVALID_TIMEOUT             INVALID_ARGUMENT     a malformed or negative Wait timeout (field "timeout")
//	INVALID_METADATA            INVALID_ARGUMENT     metadata that cannot be packed into an Any
//	INVALID_RESPONSE            INVALID_ARGUMENT     a response that cannot be packed into an Any
//	INVALID_REQUEST             INVALID_ARGUMENT     StartKind: a nil request, one that cannot be packed, or of another type than the kind takes
//	MISSING_WORK                INVALID_ARGUMENT     Start with nil work
//	NIL_ARGUMENT                INVALID_ARGUMENT     a Go caller passed nil where a value is needed (a context, WatchOperation's send)
//	KIND_NOT_REGISTERED         INVALID_ARGUMENT     StartKind with a kind no Register call made known
//	PERMISSION_DENIED           PERMISSION_DENIED    the Authorizer denied with a plain error, or with a bare PERMISSION_DENIED
//	UNAUTHENTICATED             UNAUTHENTICATED      the Authorizer answered a bare UNAUTHENTICATED
//	AUTHORIZATION_FAILED        (the Authorizer's)   the Authorizer answered another bare status
//	OPERATION_DONE              FAILED_PRECONDITION  updating an operation that is done
//	NOT_OWNER                   FAILED_PRECONDITION  Op.SetMetadata after this replica lost the operation
//	OPERATION_RUN_BY_WORK       FAILED_PRECONDITION  SetMetadata/Complete/Fail on an operation run by work
//	MANAGER_CLOSED              UNAVAILABLE          a call after Close began
//	LEASE_LOST                  UNAVAILABLE          Start while this replica does not hold its owner lease
//	PAYLOAD_TOO_LARGE           INVALID_ARGUMENT     metadata, a response or a request larger than WithMaxPayloadSize
//	STORE_UNAVAILABLE           UNAVAILABLE          the store failed (or answered a bare UNAVAILABLE)
//	STORE_REFUSED               (the store's)        the store answered another bare status, e.g. INVALID_ARGUMENT
//	REQUEST_CANCELLED           CANCELLED            the caller's context was cancelled
//	REQUEST_DEADLINE_EXCEEDED   DEADLINE_EXCEEDED    the caller's context's deadline passed
//	INVALID_START_OPTION        INVALID_ARGUMENT     a Start option with a bad value, such as a WithTimeout that is not positive
//	ACCEPT_ONLY                 FAILED_PRECONDITION  Start with a work function on an accept-only Manager (WithMaxRunning(0))
//
// The operations the library ends itself:
//
//	Reason                      Code                 When
//	OPERATION_CANCELLED         CANCELLED            CancelOperation stopped it
//	SERVER_SHUTDOWN             UNAVAILABLE          Close cut its work short, or found its work function still queued
//	OPERATION_DEADLINE_EXCEEDED DEADLINE_EXCEEDED    its deadline (WithTimeout, KindTimeout) passed before it ended
//	OPERATION_ABANDONED         UNAVAILABLE          its replica died and it cannot run again here
//	WORK_PANICKED               INTERNAL             its work panicked
//	INVALID_RESPONSE            INTERNAL             its work's response cannot be packed into an Any
//	PAYLOAD_TOO_LARGE           INTERNAL             its work's response is larger than WithMaxPayloadSize
//	RESULT_UNSTORABLE           INTERNAL             the store refused its result for good
//	REQUEST_UNDECODABLE         INTERNAL             a registered kind's stored request cannot be decoded
//	WORK_FAILED                 UNKNOWN (or the context's code)  its work returned an error that has no gRPC status
//
// A status that work returns, or that an ErrorMapper makes, is the host's
// and is kept as it is: the library adds no ErrorInfo, which would claim the
// host's error for the library's domain. An Authorizer's status that
// already has an ErrorInfo is kept as it is too.
const (
	// ReasonOperationNotFound: the operation does not exist or expired.
	ReasonOperationNotFound = "OPERATION_NOT_FOUND"
	// ReasonOperationAlreadyExists: the store holds an operation of that name.
	ReasonOperationAlreadyExists = "OPERATION_ALREADY_EXISTS"
	// ReasonInvalidOperationName: a malformed operation name.
	ReasonInvalidOperationName = "INVALID_OPERATION_NAME"
	// ReasonInvalidCollection: a malformed ListOperations name.
	ReasonInvalidCollection = "INVALID_COLLECTION"
	// ReasonInvalidParent: a malformed parent given to WithParent.
	ReasonInvalidParent = "INVALID_PARENT"
	// ReasonInvalidFilter: a ListOperations filter that does not parse or type-check.
	ReasonInvalidFilter = "INVALID_FILTER"
	// ReasonInvalidPageToken: a page token that is garbage, tampered with, or from another list.
	ReasonInvalidPageToken = "INVALID_PAGE_TOKEN"
	// ReasonInvalidPageSize: a negative page size.
	ReasonInvalidPageSize = "INVALID_PAGE_SIZE"
	// ReasonPartialSuccessUnsupported: ListOperations was asked for
	// return_partial_success, which the library does not support.
	ReasonPartialSuccessUnsupported = "PARTIAL_SUCCESS_UNSUPPORTED"
	// ReasonInvalidTimeout: a WaitOperation timeout that is malformed or negative.
	ReasonInvalidTimeout = "INVALID_TIMEOUT"
	// ReasonInvalidMetadata: metadata that cannot be packed into an Any.
	ReasonInvalidMetadata = "INVALID_METADATA"
	// ReasonInvalidResponse: a response that cannot be packed into an Any.
	ReasonInvalidResponse = "INVALID_RESPONSE"
	// ReasonInvalidRequest: a StartKind request that is nil, cannot be
	// packed, or is of another type than the kind's Handler takes.
	ReasonInvalidRequest = "INVALID_REQUEST"
	// ReasonMissingWork: Start was given nil work.
	ReasonMissingWork = "MISSING_WORK"
	// ReasonNilArgument: a Go caller passed nil where a value is needed,
	// such as WatchOperation's context or send function.
	ReasonNilArgument = "NIL_ARGUMENT"
	// ReasonKindNotRegistered: StartKind was given a kind that was never registered.
	ReasonKindNotRegistered = "KIND_NOT_REGISTERED"
	// ReasonPermissionDenied: the Authorizer denied the call.
	ReasonPermissionDenied = "PERMISSION_DENIED"
	// ReasonUnauthenticated: the Authorizer found no valid credentials.
	ReasonUnauthenticated = "UNAUTHENTICATED"
	// ReasonAuthorizationFailed: the Authorizer failed with a status other
	// than PERMISSION_DENIED, UNAUTHENTICATED or NOT_FOUND.
	ReasonAuthorizationFailed = "AUTHORIZATION_FAILED"
	// ReasonOperationDone: the operation is done and can no longer change.
	ReasonOperationDone = "OPERATION_DONE"
	// ReasonNotOwner: this replica no longer owns the operation.
	ReasonNotOwner = "NOT_OWNER"
	// ReasonOperationRunByWork: the operation is run by a work function,
	// not driven from outside (Create).
	ReasonOperationRunByWork = "OPERATION_RUN_BY_WORK"
	// ReasonManagerClosed: the Manager is closed or closing.
	ReasonManagerClosed = "MANAGER_CLOSED"
	// ReasonLeaseLost: this replica does not hold its owner lease.
	ReasonLeaseLost = "LEASE_LOST"
	// ReasonStoreUnavailable: the store failed.
	ReasonStoreUnavailable = "STORE_UNAVAILABLE"
	// ReasonStoreRefused: the store answered with a status of its own,
	// other than UNAVAILABLE, such as INVALID_ARGUMENT for a value it
	// cannot hold.
	ReasonStoreRefused = "STORE_REFUSED"
	// ReasonPayloadTooLarge: metadata, a response or a request is larger
	// than the payload cap (WithMaxPayloadSize).
	ReasonPayloadTooLarge = "PAYLOAD_TOO_LARGE"
	// ReasonRequestCancelled: the caller's context was cancelled.
	ReasonRequestCancelled = "REQUEST_CANCELLED"
	// ReasonRequestDeadlineExceeded: the caller's context's deadline passed.
	ReasonRequestDeadlineExceeded = "REQUEST_DEADLINE_EXCEEDED"
	// ReasonInvalidStartOption: a Start or StartKind option with a bad
	// value, such as a WithTimeout that is not positive.
	ReasonInvalidStartOption = "INVALID_START_OPTION"
	// ReasonAcceptOnly: Start with a work function on an accept-only
	// Manager (WithMaxRunning(0)); a work function cannot run on another
	// replica, so only registered kinds (StartKind) are accepted.
	ReasonAcceptOnly = "ACCEPT_ONLY"

	// ReasonOperationCancelled: the operation ended because it was cancelled.
	ReasonOperationCancelled = "OPERATION_CANCELLED"
	// ReasonServerShutdown: Close cut the operation's work short, or
	// found its work function still queued in this Manager.
	ReasonServerShutdown = "SERVER_SHUTDOWN"
	// ReasonOperationDeadlineExceeded: the operation's deadline
	// (WithTimeout, KindTimeout) passed before it ended.
	ReasonOperationDeadlineExceeded = "OPERATION_DEADLINE_EXCEEDED"
	// ReasonOperationAbandoned: the replica running the operation died and
	// no replica can run it again.
	ReasonOperationAbandoned = "OPERATION_ABANDONED"
	// ReasonWorkPanicked: the operation's work panicked.
	ReasonWorkPanicked = "WORK_PANICKED"
	// ReasonRequestUndecodable: a registered kind's stored request could not be decoded.
	ReasonRequestUndecodable = "REQUEST_UNDECODABLE"
	// ReasonResultUnstorable: the store refused the operation's result for
	// good, so the operation ended with INTERNAL instead.
	ReasonResultUnstorable = "RESULT_UNSTORABLE"
	// ReasonWorkFailed: the operation's work returned an error without a
	// gRPC status of its own.
	ReasonWorkFailed = "WORK_FAILED"
)

// DefaultErrorDomain is the ErrorInfo domain of a Manager without
// WithErrorDomain. AIP-193 wants the domain of the service that made the
// error, which only the host knows; the default is a DNS name under the
// project's own site, so it names this library and collides with no real
// service.
const DefaultErrorDomain = "lro.lrokit.github.io"

// Metadata keys of the ErrorInfo the library adds (lowerCamelCase, as
// AIP-193 asks).
const (
	// ErrorKeyOperation is the operation's name.
	ErrorKeyOperation = "operation"
	// ErrorKeyCollection is the ListOperations name as the request gave it.
	ErrorKeyCollection = "collection"
	// ErrorKeyFilter is the ListOperations filter.
	ErrorKeyFilter = "filter"
	// ErrorKeyColumn is where in the filter the problem is, counted from 1.
	ErrorKeyColumn = "column"
	// ErrorKeyKind is a registered kind's name.
	ErrorKeyKind = "kind"
	// ErrorKeyParent is the parent given to WithParent.
	ErrorKeyParent = "parent"
	// ErrorKeyMethod is the RPC an Authorizer was asked about.
	ErrorKeyMethod = "method"
	// ErrorKeyType is the type of a message that could not be packed or
	// stored: a Go type, or a type URL.
	ErrorKeyType = "type"
	// ErrorKeyPayload is which payload is too large: metadata, response
	// or request.
	ErrorKeyPayload = "payload"
	// ErrorKeySize is a payload's encoded size, in bytes.
	ErrorKeySize = "sizeBytes"
	// ErrorKeyLimit is the payload cap, in bytes.
	ErrorKeyLimit = "limitBytes"
)
