package pgstore

import "github.com/lrokit/lro"

// StoreName returns "postgres", the store's name in the lro.store
// attribute of the Manager's metrics (lro.StoreNamer); it never fails.
func (s *Store) StoreName() string { return "postgres" }

var _ lro.StoreNamer = (*Store)(nil)
