//go:build unix

// Command prebuild builds every Go test peer of package gobuild into the
// cache (again only when its sources changed), so that scripts/test pays for
// a first build before the tests start rather than inside one of them.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/mcptray/mcptray/testpeers/gobuild"
)

func main() {
	names := make([]string, 0, len(gobuild.Programs))
	for name := range gobuild.Programs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		start := time.Now()
		bin, err := gobuild.Build(context.Background(), name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "prebuild:", err)
			os.Exit(1)
		}
		if d := time.Since(start); d > time.Second {
			fmt.Fprintf(os.Stderr, "prebuild: %s built in %s: %s\n", name, d.Round(time.Second), bin)
		}
	}
}
