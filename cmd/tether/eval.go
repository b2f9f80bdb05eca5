package main

import "errors"

// runEval is being written; see the issue tracker.
func runEval(args []string) error { return errors.New("eval: not built yet") }
