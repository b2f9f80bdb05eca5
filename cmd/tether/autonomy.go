package main

import "errors"

// runAutonomy is `tether autonomy report` (see autonomy_report.go).
func runAutonomy(args []string) error {
	return errors.New("not implemented yet")
}
