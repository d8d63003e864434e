// Command image-locality-pause holds a pod's namespaces open until it is told to
// stop: the sandbox ("pause") container of the project's real-node test lab, which
// has no registry outside the machine to fetch the usual pause image from. Build it
// static (CGO_ENABLED=0): the image holds this one file and nothing else.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	// As PID 1 of the pod a signal without a handler is ignored, so ask for them.
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
