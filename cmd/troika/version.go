package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is the release version; set at build time with
// -ldflags "-X main.version=v1.2.3". Empty means: from the build info.
var version = ""

// versionInfo is the JSON output of troika version.
type versionInfo struct {
	Version    string `json:"version"`
	GoVersion  string `json:"goVersion"`
	Commit     string `json:"commit,omitempty"`
	CommitTime string `json:"commitTime,omitempty"`
	Modified   bool   `json:"modified,omitempty"`
	Platform   string `json:"platform"`
}

// buildVersion collects the version from the ldflags variable, the module
// version and the VCS settings the go command stamps into the binary.
func buildVersion() versionInfo {
	v := versionInfo{Version: version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.time":
				v.CommitTime = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	return v
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the Go version and the commit",
		Args:  args(cobra.NoArgs),
		RunE: a.runE(func(*cobra.Command, []string) error {
			v := buildVersion()
			if a.json {
				return a.printJSON(v)
			}
			commit := v.Commit
			switch {
			case commit == "":
				commit = "unknown"
			case len(commit) > 12:
				commit = commit[:12]
			}
			if v.Modified {
				commit += "-dirty"
			}
			fmt.Fprintf(a.stdout, "troika %s (%s, %s, commit %s)\n", v.Version, v.GoVersion, v.Platform, commit)
			return nil
		}),
	}
}
