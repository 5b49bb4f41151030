package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// globalFlags are the flags every command takes.
type globalFlags struct {
	addr       string
	plaintext  bool
	insecure   bool
	caFile     string
	serverName string
	restURL    string
	headers    []string
	json       bool
	timeout    time.Duration
	descriptor []string
	// noReflection turns off type lookups through gRPC reflection.
	noReflection bool
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "lroctl",
		Short: "Command-line client for google.longrunning Operations servers",
		Long: `lroctl lists, inspects, waits for, cancels and deletes long-running
operations on any server that implements google.longrunning.Operations,
over gRPC or over REST/JSON.

Choose the server with exactly one of:
  --addr HOST:PORT   gRPC, with TLS unless --plaintext is given
  --rest URL         REST/JSON, e.g. http://localhost:8080/v1 (a URL without
                     a path gets /v1)

Operation names are full resource names, such as operations/abc123 or
projects/p/locations/l/operations/abc123.

Metadata and responses are shown as JSON. Over gRPC, lroctl decodes the
message types linked into it (the google.protobuf well-known types,
google.rpc error details, google.longrunning), those of --descriptor-set
files, and any other type the server describes through gRPC server
reflection (v1 or v1alpha), unless --no-reflection is given. An Any that
cannot be decoded is shown as its type URL and base64 bytes. Over REST the
server decodes them.

Exit status: 0 on success, 1 when an operation failed or a call returned an
error, 2 for a usage error.`,
		Example: `  lroctl --addr localhost:9090 --plaintext list --filter 'done = false'
  lroctl --addr api.example.com:443 get operations/abc123
  lroctl --rest http://localhost:8080/v1 wait projects/p/locations/l/operations/abc123
  lroctl --addr localhost:9090 --plaintext --json list --page-size 100 --one-page`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{errors.New("missing command")}
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.CompletionOptions.DisableDefaultCmd = true

	pf := root.PersistentFlags()
	pf.StringVar(&g.addr, "addr", "", "gRPC server address `host:port`")
	pf.BoolVar(&g.plaintext, "plaintext", false, "use gRPC without TLS")
	pf.BoolVar(&g.insecure, "insecure-skip-verify", false, "use TLS (gRPC or https) without verifying the server's certificate")
	pf.StringVar(&g.caFile, "cacert", "", "PEM `file` of CA certificates to verify the server with (default: the system pool)")
	pf.StringVar(&g.serverName, "server-name", "", "`name` to verify the server's TLS certificate against (default: the host in --addr)")
	pf.StringVar(&g.restURL, "rest", "", "REST/JSON endpoint `URL`, e.g. http://localhost:8080/v1")
	pf.StringArrayVarP(&g.headers, "header", "H", nil, "add a request header or gRPC metadata entry, `'key: value'` (repeatable), e.g. -H 'authorization: Bearer TOKEN'")
	pf.BoolVar(&g.json, "json", false, "print JSON (lowerCamelCase, as the REST API answers) instead of text")
	pf.DurationVar(&g.timeout, "timeout", 0, "give up after this `duration` (e.g. 30s, 10m); 0 means no limit")
	pf.StringArrayVar(&g.descriptor, "descriptor-set", nil, "FileDescriptorSet `file` (protoc --descriptor_set_out --include_imports, or buf build -o) whose message types decode metadata and responses over gRPC (repeatable)")
	pf.BoolVar(&g.noReflection, "no-reflection", false, "do not ask the gRPC server's reflection service for message types lroctl does not know")

	root.AddCommand(newListCmd(g), newGetCmd(g), newWaitCmd(g), newCancelCmd(g), newDeleteCmd(g))
	return root
}

// connect validates the global flags and opens the backend they name.
func connect(cmd *cobra.Command, g *globalFlags) (context.Context, context.CancelFunc, backend, error) {
	if (g.addr == "") == (g.restURL == "") {
		return nil, nil, nil, usageError{errors.New("give exactly one of --addr (gRPC) or --rest (REST/JSON)")}
	}
	if g.restURL != "" && g.plaintext {
		return nil, nil, nil, usageError{errors.New("--plaintext applies to --addr; a --rest URL says http or https itself")}
	}
	if g.plaintext && (g.insecure || g.caFile != "" || g.serverName != "") {
		return nil, nil, nil, usageError{errors.New("--plaintext cannot be combined with TLS flags (--insecure-skip-verify, --cacert, --server-name)")}
	}
	hdrs := make([][2]string, 0, len(g.headers))
	for _, h := range g.headers {
		k, v, ok := strings.Cut(h, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, nil, nil, usageError{fmt.Errorf("--header %q: want 'key: value'", h)}
		}
		hdrs = append(hdrs, [2]string{k, strings.TrimSpace(v)})
	}
	res, err := newResolver(g.descriptor)
	if err != nil {
		return nil, nil, nil, usageError{err}
	}
	tlsConf, err := tlsConfig(g)
	if err != nil {
		return nil, nil, nil, usageError{err}
	}
	ctx := cmd.Context()
	cancel := context.CancelFunc(func() {})
	if g.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, g.timeout)
	}
	var be backend
	if g.addr != "" {
		be, err = newGRPCBackend(ctx, grpcConfig{
			addr:         g.addr,
			plaintext:    g.plaintext,
			tls:          tlsConf,
			headers:      hdrs,
			resolver:     res,
			noReflection: g.noReflection,
		})
	} else {
		be, err = newRESTBackend(g.restURL, tlsConf, hdrs)
	}
	if err != nil {
		cancel()
		return nil, nil, nil, usageError{err}
	}
	return ctx, func() { cancel(); be.close() }, be, nil
}

// usageArgs wraps a cobra argument validator so its errors are usage errors.
func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
