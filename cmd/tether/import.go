package main

import "errors"

// runImport is being written; see the issue tracker.
func runImport(args []string) error { return errors.New("import: not built yet") }
