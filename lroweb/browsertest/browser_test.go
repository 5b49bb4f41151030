package browsertest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"google.golang.org/grpc/codes"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lroweb"
	"github.com/lrokit/lro/lroweb/internal/demo"
)

// step bounds each browser step; it is a failure deadline, not a wait.
const step = 30 * time.Second

// chromium returns the browser to drive: $LRO_CHROMIUM, or the first of
// the usual names on $PATH. Without one the test skips, or fails when CI
// is set, since CI installs it (.ci/install-chromium).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("LRO_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium found (set LRO_CHROMIUM, or run .ci/install-chromium to install Debian's chromium)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browser starts headless Chromium for the test and returns a tab's
// context, and a function that reports the page's uncaught exceptions.
func browser(t *testing.T, width, height int) (context.Context, func() []string) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("force-device-scale-factor", "1"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", chromium(t), err)
	}
	var (
		mu         sync.Mutex
		exceptions []string
	)
	events := chromedp.Events(ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			mu.Lock()
			exceptions = append(exceptions, (&chromedp.ExceptionError{ExceptionDetails: ev.ExceptionDetails}).Error())
			mu.Unlock()
		}
	}()
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(exceptions)
	}
}

// consoleEnv is a Manager with the demo operations and its console,
// mounted at /console/ as a host would.
type consoleEnv struct {
	m   *lro.Manager
	s   demo.Seeded
	url string // the console's root
}

func newConsoleEnv(t *testing.T, now time.Time) consoleEnv {
	t.Helper()
	m, err := lro.New(lro.WithTypeResolver(demo.Types()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = m.Close(ctx)
	})
	s, err := demo.Seed(context.Background(), m, now)
	if err != nil {
		t.Fatal(err)
	}
	console, err := lroweb.New(m, lroweb.WithResolver(demo.Types()), lroweb.WithTitle("exportsvc"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", http.StripPrefix("/console", console))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		// An open operation page holds an event stream: end it first.
		srv.CloseClientConnections()
		srv.Close()
	})
	return consoleEnv{m: m, s: s, url: srv.URL + "/console/"}
}

// run runs actions within one step's deadline.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, step)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression within one step's deadline.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, step)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// until waits, in the browser, until a JavaScript predicate holds.
func until(t *testing.T, ctx context.Context, what, predicate string) {
	t.Helper()
	run(t, ctx, what, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingTimeout(step))(ctx, tg)
		return err
	}))
}

const listedNames = `[...document.querySelectorAll("td.name a")].map(a => a.textContent)`

func TestConsoleInBrowser(t *testing.T) {
	env := newConsoleEnv(t, time.Now())
	ctx, exceptions := browser(t, 1440, 900)
	all := env.s.All

	t.Run("list shows the operations", func(t *testing.T) {
		run(t, ctx, "opening the list", chromedp.Navigate(env.url), chromedp.WaitVisible(chromedp.CSS("table.ops")))
		got := eval[[]string](t, ctx, listedNames)
		want := slices.Clone(all)
		slices.Reverse(want)
		if !slices.Equal(got, want) {
			t.Errorf("list shows\n%q\nwant\n%q", got, want)
		}
		// The stylesheet applies (the CSP lets it in).
		if pos := eval[string](t, ctx, `getComputedStyle(document.querySelector(".topbar")).position`); pos != "sticky" {
			t.Errorf("header position %q: the stylesheet did not apply", pos)
		}
	})

	t.Run("filter narrows the list", func(t *testing.T) {
		run(t, ctx, "filtering",
			chromedp.SetValue(chromedp.ID("filter"), "metadata.source:fiction OR metadata.source:maps"),
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(`form.filter button[type="submit"]`)))(ctx, tg)
				return err
			}),
		)
		until(t, ctx, "the filtered list", `document.querySelectorAll("td.name a").length === 2`)
		if got, want := eval[[]string](t, ctx, listedNames), []string{all[8], all[0]}; !slices.Equal(got, want) {
			t.Errorf("filtered list shows %q, want %q", got, want)
		}
		// A state chip narrows it further.
		run(t, ctx, "clicking the running chip", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(`a.chip[data-state="running"]`)))(ctx, tg)
			return err
		}))
		if got, want := eval[[]string](t, ctx, listedNames), []string{all[8]}; !slices.Equal(got, want) {
			t.Errorf("running and filtered list shows %q, want %q", got, want)
		}
	})

	t.Run("operation page updates live", func(t *testing.T) {
		run(t, ctx, "opening the running operation", chromedp.Navigate(env.url+"op/"+env.s.Running), chromedp.WaitVisible(chromedp.ID("op")))
		until(t, ctx, "the live stream", `document.getElementById("live").textContent === "live"`)
		eval[chromedp.Void](t, ctx, `window.notReloaded = true`)
		if got := eval[string](t, ctx, `document.querySelector('[data-field="progress-text"]').textContent`); got != "42%" {
			t.Fatalf("progress %q, want 42%%", got)
		}
		md := demo.Export{Source: "shelves/periodicals", Progress: 77, Rows: 95_000, Created: time.Now().Add(-7 * time.Minute), Updated: time.Now()}
		if err := env.m.SetMetadata(context.Background(), env.s.Running, md.Metadata()); err != nil {
			t.Fatal(err)
		}
		until(t, ctx, "the new progress", `document.querySelector('[data-field="progress-text"]').textContent === "77%"`)
		if v := eval[float64](t, ctx, `document.querySelector('[data-field="progress"]').value`); v != 77 {
			t.Errorf("progress bar at %v, want 77", v)
		}
		if !eval[bool](t, ctx, `document.querySelector('[data-field="metadata"]').textContent.includes('"rows_exported": "95000"')`) {
			t.Error("the metadata JSON did not update")
		}
		if !eval[bool](t, ctx, `window.notReloaded === true`) {
			t.Error("the page reloaded instead of updating")
		}
	})

	t.Run("cancel ends the operation cancelled", func(t *testing.T) {
		run(t, ctx, "asking to cancel",
			chromedp.Click(chromedp.CSS(`form[data-field="cancel"] button`)),
			chromedp.WaitVisible(chromedp.ID("confirm-dialog")),
		)
		if q := eval[string](t, ctx, `document.querySelector('[data-field="confirm-question"]').textContent`); q != "Cancel this operation?" {
			t.Errorf("dialog asks %q", q)
		}
		// Nothing happens before the confirmation.
		if op := getOp(t, env.m, env.s.Running); op.GetDone() {
			t.Fatal("the operation ended before the confirmation")
		}
		run(t, ctx, "confirming", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(`[data-field="confirm-yes"]`)))(ctx, tg)
			return err
		}))
		until(t, ctx, "the cancelled badge", `document.querySelector('[data-field="state"]').textContent === "cancelled"`)
		op := getOp(t, env.m, env.s.Running)
		if !op.GetDone() || codes.Code(op.GetError().GetCode()) != codes.Canceled {
			t.Fatalf("after Cancel: %v, want done CANCELLED", op)
		}
		if eval[bool](t, ctx, `!document.querySelector('[data-field="cancel"]').hidden`) {
			t.Error("a cancelled operation still offers Cancel")
		}
	})

	if ex := exceptions(); len(ex) > 0 {
		t.Errorf("the pages threw:\n%s", strings.Join(ex, "\n"))
	}
}

func getOp(t *testing.T, m *lro.Manager, name string) *longrunningpb.Operation {
	t.Helper()
	op, err := m.GetOperation(context.Background(), &longrunningpb.GetOperationRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// TestScreenshots writes console-list.png, console-operation.png and
// console-operation-failed.png of the demo operations into
// $LRO_SCREENSHOTS, for the README (docs/img).
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("LRO_SCREENSHOTS")
	if dir == "" {
		t.Skip("set LRO_SCREENSHOTS=dir to write the screenshots")
	}
	env := newConsoleEnv(t, time.Now())
	ctx, _ := browser(t, 1280, 800)
	shots := []struct {
		file, url, ready string
	}{
		{"console-list.png", env.url, `document.querySelectorAll("td.name a").length === 9`},
		{"console-operation.png", env.url + "op/" + env.s.All[6], `document.getElementById("live").textContent === "live"`},
		{"console-operation-failed.png", env.url + "op/" + env.s.All[2], `document.getElementById("live").textContent === "done"`},
	}
	for _, s := range shots {
		run(t, ctx, "opening "+s.url, chromedp.Navigate(s.url))
		until(t, ctx, s.file, s.ready)
		sctx, cancel := context.WithTimeout(ctx, step)
		png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir+"/"+s.file, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d KB)", s.file, len(png)/1024)
	}
}
