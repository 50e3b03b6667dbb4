package catalog

// RepositoryID returns the id of the repository the catalog was built
// from, "" for a catalog not bound to one yet.
func (c *Catalog) RepositoryID() (string, error) {
	b, _, err := getValue(c.db, metaRepo)
	return string(b), err
}
