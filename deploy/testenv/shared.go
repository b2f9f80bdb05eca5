package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// SharedEnv overrides the location of the read-only shared folder (default
// ../shared beside the repository).
const SharedEnv = "TETHER_SHARED"

// Shared returns rel inside the shared folder (../shared beside the
// repository, or $TETHER_SHARED), skipping t when it is absent on a
// developer machine and failing it under CI=true.
func Shared(t testing.TB, rel string) string {
	t.Helper()
	root := os.Getenv(SharedEnv)
	if root == "" {
		root = filepath.Join(RepoRoot(), "..", "shared")
	}
	path := filepath.Join(root, filepath.FromSlash(rel))
	if _, err := os.Stat(path); err != nil {
		unavailable(t, "shared file "+path+" is missing ("+err.Error()+"); set "+SharedEnv)
	}
	return path
}

// Python3 returns the python3 interpreter, skipping t when there is none on
// a developer machine and failing it under CI=true.
func Python3(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		unavailable(t, "python3 is not installed: "+err.Error())
	}
	return p
}

// RepoRoot is the repository root (two levels above this file's folder).
func RepoRoot() string {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "."
	}
	return filepath.Join(filepath.Dir(self), "..", "..")
}
