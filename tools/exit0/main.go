// Command image-locality-exit0 exits 0. It is what a pre-pull pod runs inside the
// image it warms: that image may have no shell and no binary at all (distroless,
// scratch), so the pod brings its own program.
//
//	image-locality-exit0 install DEST   copy this executable to DEST (mode 0555)
//	image-locality-exit0 [anything]     exit 0
//
// The product's image is distroless too (no cp), so the init container of the
// pre-pull pod runs "install" to put a copy on a shared emptyDir; the main
// container then runs that copy. Build it static (CGO_ENABLED=0): it runs in
// whatever image it is copied beside, which may have no libc.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "install" {
		if len(os.Args) != 3 || os.Args[2] == "" {
			fmt.Fprintln(os.Stderr, "usage: image-locality-exit0 install DEST")
			os.Exit(2)
		}
		if err := install(os.Args[2]); err != nil {
			fmt.Fprintf(os.Stderr, "image-locality-exit0: install: %v\n", err)
			os.Exit(1)
		}
	}
	os.Exit(0)
}

// install copies the running executable to dest. It writes a temporary file in
// dest's directory and renames it into place, so dest is either absent or
// complete, and an existing read-only dest (a rerun) is replaced, not opened.
func install(dest string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("locate own executable: %w", err)
	}
	src, err := os.Open(self)
	if err != nil {
		return err
	}
	defer src.Close()

	tmp, err := os.CreateTemp(filepath.Dir(dest), ".exit0-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if _, err := io.Copy(tmp, src); err != nil {
		return err
	}
	if err := tmp.Chmod(0o555); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmpName, dest); err != nil {
		return err
	}
	ok = true
	return nil
}
