package main

import "errors"

// runDemo is being written; see the issue tracker.
func runDemo(args []string) error { return errors.New("demo: not built yet") }
