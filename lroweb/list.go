package lroweb

import (
	"fmt"
	"net/http"
	"net/url"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// listPage is what the list page shows.
type listPage struct {
	page
	Filter string // as the user typed it
	State  state  // the chip that is on, or ""
	Chips  []chipLink
	// Effective is the filter sent to the server.
	Effective string
	Ops       []opView
	Error     *rpcError
	Caret     string // spaces before the caret under Filter
	HasCaret  bool
	AllHref   string
	ClearHref string // the chip kept, the filter dropped
	FirstHref string // set after the first page
	NextHref  string
	Deleted   bool // an operation was just deleted
}

// chipLink is a chip with the link that turns it on (or off, when on).
type chipLink struct {
	chip
	Href   string
	Active bool
}

// list serves the list page: the operations the filter and chip select,
// newest first, a page at a time.
func (c *console) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := listPage{page: c.page(r, c.cfg.title), Filter: q.Get("filter"), State: state(q.Get("state")), Deleted: q.Get("deleted") != ""}
	link := func(st state, token string) string {
		v := url.Values{}
		if p.Filter != "" {
			v.Set("filter", p.Filter)
		}
		if st != "" {
			v.Set("state", string(st))
		}
		if token != "" {
			v.Set("page_token", token)
		}
		if len(v) == 0 {
			return p.Base
		}
		return p.Base + "?" + v.Encode()
	}
	var chipFilter string
	known, why := p.State == "", fmt.Sprintf("state %q is not one of the chips", p.State)
	for _, ch := range c.chips() {
		if ch.State == p.State && ch.Disabled != "" {
			why = ch.Disabled
		}
		active := ch.State == p.State && ch.Disabled == ""
		next := ch.State
		if active {
			next = "" // clicking the chip that is on turns it off
			chipFilter = ch.Filter
			known = true
		}
		p.Chips = append(p.Chips, chipLink{chip: ch, Href: link(next, ""), Active: active})
	}
	p.AllHref = link("", "")
	if p.State != "" {
		p.ClearHref = p.Base + "?" + url.Values{"state": {string(p.State)}}.Encode()
	} else {
		p.ClearHref = p.Base
	}
	code := http.StatusOK
	if !known {
		e := toRPCError(status.Error(codes.InvalidArgument, why))
		p.Error, code = &e, e.HTTP
		c.html(w, code, "list.html", p)
		return
	}
	p.Effective = withChip(p.Filter, chipFilter)
	token := q.Get("page_token")
	resp, err := c.ops.ListOperations(r.Context(), &longrunningpb.ListOperationsRequest{
		Name: c.cfg.collection, Filter: p.Effective, PageSize: c.cfg.pageSize, PageToken: token,
	})
	if err != nil {
		e := toRPCError(err)
		p.Error, code = &e, e.HTTP
		p.Caret, p.HasCaret = filterCaret(e, p.Filter)
	}
	for _, op := range resp.GetOperations() {
		p.Ops = append(p.Ops, c.render.view(op))
	}
	if token != "" {
		p.FirstHref = link(p.State, "")
	}
	if next := resp.GetNextPageToken(); next != "" {
		p.NextHref = link(p.State, next)
	}
	c.html(w, code, "list.html", p)
}
