-- The SQL the HTTP layer runs: one-line calls of api.* functions, by name.

-- health --
SELECT api.health()
