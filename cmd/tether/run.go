package main

import "errors"

// runDaemon is being written; see the issue tracker.
func runDaemon(args []string) error { return errors.New("run: not built yet") }
