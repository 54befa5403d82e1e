package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/troikahq/troika/internal/cli"
)

func (a *app) healthcheckCmd() *cobra.Command {
	var live bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 if the server at --server is ready (for container health checks)",
		Args:  args(cobra.NoArgs),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			path := "/readyz"
			if live {
				path = "/livez"
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			url := strings.TrimRight(a.serverURL(), "/") + path
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return cli.Usagef("--server: %v", err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return cli.Failf("%s: %v", url, err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			if resp.StatusCode != http.StatusOK {
				return cli.Failf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
			}
			if a.json {
				fmt.Fprintf(a.stdout, "{\"status\":\"ok\",\"url\":%q}\n", url)
			} else {
				fmt.Fprintf(a.stdout, "ok %s\n", url)
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&live, "live", false, "check /livez (the process serves) instead of /readyz (ready for traffic)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	return cmd
}
