package store

// ReadIDsBack makes db read the ids of a multi-row receipt INSERT back by
// key, as it does on MySQL in innodb_autoinc_lock_mode 2.
func ReadIDsBack(db *DB) {
	db.autoinc.Do(func() {})
	db.autoincBy = 0
}
