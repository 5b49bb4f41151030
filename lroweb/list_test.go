package lroweb_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/lrokit/lro/lroweb"
)

func TestListShowsOperationsNewestFirst(t *testing.T) {
	m := newManager(t)
	s := seed(t, m)
	srv := serve(t, m)

	p := get(t, srv.URL+"/")
	if p.code != 200 {
		t.Fatalf("GET / = %d\n%s", p.code, p.body)
	}
	if got, want := names(t, p.body), reversed(s.All); !slices.Equal(got, want) {
		t.Errorf("list shows\n%q\nwant newest first\n%q", got, want)
	}
	for _, want := range []string{
		`<span class="badge badge-running">running</span>`,
		`<span class="badge badge-succeeded">succeeded</span>`,
		`<span class="badge badge-failed">failed</span>`,
		`<span class="badge badge-cancelled">cancelled</span>`,
		`<progress class="bar-running" max="100" value="42"></progress><span class="pct">42%</span>`,
		`title="type.googleapis.com/acme.exports.v1.ExportMetadata">ExportMetadata</td>`,
		`<span class="code">PERMISSION_DENIED</span> writing s3://partner-drop/poetry.csv`,
		`<time datetime="2025-06-03T13:53:00Z" data-relative>2025-06-03 13:53:00 UTC</time>`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("list page lacks %s", want)
		}
	}
}

func TestListFilter(t *testing.T) {
	m := newManager(t)
	s := seed(t, m)
	srv := serve(t, m)

	p := get(t, srv.URL+"/?"+url.Values{"filter": {"metadata.source:fiction OR metadata.source:maps"}}.Encode())
	if p.code != 200 {
		t.Fatalf("status %d\n%s", p.code, p.body)
	}
	if got, want := names(t, p.body), []string{s.All[8], s.All[0]}; !slices.Equal(got, want) {
		t.Errorf("filtered list shows %q, want %q", got, want)
	}
	if !strings.Contains(p.body, `value="metadata.source:fiction OR metadata.source:maps"`) {
		t.Error("the filter box does not keep the filter")
	}
}

func TestListFilterErrorShowsPosition(t *testing.T) {
	m := newManager(t)
	seed(t, m)
	srv := serve(t, m)

	for _, state := range []string{"", "running"} { // the chip's filter must not move the caret
		p := get(t, srv.URL+"/?"+url.Values{"filter": {"done = true and error:*"}, "state": {state}}.Encode())
		if p.code != 400 {
			t.Fatalf("state %q: status %d, want 400", state, p.code)
		}
		for _, want := range []string{
			`<span class="code">INVALID_ARGUMENT</span>`,
			`at column 13`,
			"<pre class=\"caret\">done = true and error:*\n            ^</pre>",
		} {
			if !strings.Contains(p.body, want) {
				t.Errorf("state %q: error page lacks %q\n%s", state, want, p.body)
			}
		}
		if len(names(t, p.body)) != 0 {
			t.Error("an invalid filter still lists operations")
		}
	}
}

func TestStateChips(t *testing.T) {
	m := newManager(t)
	s := seed(t, m)
	// Seeded oldest first: fiction ok, science ok, poetry failed, history
	// ok, archive cancelled, children ok, reference, periodicals and maps
	// running.
	a := s.All
	tests := []struct {
		name   string
		opts   []lroweb.Option
		state  string
		filter string
		want   []string
		code   int
		says   string
	}{
		{name: "running", state: "running", want: []string{a[8], a[7], a[6]}},
		{name: "succeeded", state: "succeeded", want: []string{a[5], a[3], a[1], a[0]}},
		{name: "failed", state: "failed", want: []string{a[2]}},
		{name: "cancelled", state: "cancelled", want: []string{a[4]}},
		{name: "chip and filter", state: "succeeded", filter: "metadata.source:history OR metadata.source:maps", want: []string{a[3]}},
		{name: "queued disabled", state: "queued", code: 400, says: "does not tell queued operations from running ones"},
		{name: "unknown", state: "sleeping", code: 400, says: `state &#34;sleeping&#34; is not one of the chips`},
		{name: "queued enabled", opts: []lroweb.Option{lroweb.WithQueuedFilter("metadata.progress_percent < 5")}, state: "queued", want: []string{a[8]}},
		{name: "running without queued", opts: []lroweb.Option{lroweb.WithQueuedFilter("metadata.progress_percent < 5")}, state: "running", want: []string{a[7], a[6]}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, m, tc.opts...)
			p := get(t, srv.URL+"/?"+url.Values{"state": {tc.state}, "filter": {tc.filter}}.Encode())
			if tc.code == 0 {
				tc.code = 200
			}
			if p.code != tc.code {
				t.Fatalf("status %d, want %d\n%s", p.code, tc.code, p.body)
			}
			if !strings.Contains(p.body, tc.says) {
				t.Errorf("page does not say %q", tc.says)
			}
			if got := names(t, p.body); !slices.Equal(got, tc.want) {
				t.Errorf("shows %q, want %q", got, tc.want)
			}
		})
	}
}

func TestQueuedChipDisabledWithoutFilter(t *testing.T) {
	m := newManager(t)
	p := get(t, serve(t, m).URL+"/")
	if !strings.Contains(p.body, `<span class="chip disabled" title="This server does not tell queued operations from running ones`) {
		t.Errorf("the queued chip is not shown disabled:\n%s", p.body)
	}
	p = get(t, serve(t, m, lroweb.WithQueuedFilter("queued = true")).URL+"/")
	if !strings.Contains(p.body, `<a class="chip" href="./?state=queued" title="queued = true" data-state="queued">`) {
		t.Errorf("the queued chip is not a link with its filter:\n%s", p.body)
	}
}

func TestActiveChipLinksToOff(t *testing.T) {
	m := newManager(t)
	srv := serve(t, m)
	p := get(t, srv.URL+"/?state=failed&filter=done%3Dtrue")
	for _, want := range []string{
		`<a class="chip active" href="./?filter=done%3Dtrue" title="error:* AND error.code != CANCELLED" data-state="failed">`,
		`<a class="chip" href="./?filter=done%3Dtrue&amp;state=running"`,
		`<p class="effective">Filter sent: <code>done=true AND (error:* AND error.code != CANCELLED)</code></p>`,
		`<input type="hidden" name="state" value="failed">`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("page lacks %s\n%s", want, p.body)
		}
	}
}

func TestPagingNewestFirst(t *testing.T) {
	m := newManager(t)
	s := seed(t, m)
	srv := serve(t, m, lroweb.WithPageSize(4))

	var all []string
	u := srv.URL + "/?state=" // an empty chip keeps the query in the links
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("more pages than operations")
		}
		p := get(t, u)
		if p.code != 200 {
			t.Fatalf("%s: %d\n%s", u, p.code, p.body)
		}
		got := names(t, p.body)
		all = append(all, got...)
		if first := strings.Contains(p.body, "« Newest"); first != (pages > 0) {
			t.Errorf("page %d: link to the first page shown = %v", pages, first)
		}
		next := nextRE.FindStringSubmatch(p.body)
		if next == nil {
			if len(got) != 1 {
				t.Errorf("last page shows %d operations, want 1", len(got))
			}
			break
		}
		if len(got) != 4 {
			t.Errorf("page %d shows %d operations, want 4", pages, len(got))
		}
		u = resolve(t, u, next[1])
	}
	if want := reversed(s.All); !slices.Equal(all, want) {
		t.Errorf("pages show\n%q\nwant\n%q", all, want)
	}
}

func TestBadPageToken(t *testing.T) {
	m := newManager(t)
	p := get(t, serve(t, m).URL+"/?page_token=garbage")
	if p.code != 400 || !strings.Contains(p.body, "INVALID_ARGUMENT") {
		t.Errorf("bad token: %d\n%s", p.code, p.body)
	}
}
