"""The use cases. Each one owns its transaction: it commits on success and rolls back
on failure, so a refused request never leaves half a record behind."""
