package lroweb

import (
	"context"
	"net/http"
	"strings"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
)

// opPage is what the operation page shows.
type opPage struct {
	page
	Op        opView
	ListHref  string
	EventsURL string
	CancelURL string
	DeleteURL string
	Cancel    action
	Delete    action
}

// operation serves an operation's page.
func (c *console) operation(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	op, err := c.ops.GetOperation(r.Context(), &longrunningpb.GetOperationRequest{Name: name})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	v := c.render.view(op)
	p := c.page(r, v.Name)
	c.html(w, http.StatusOK, "operation.html", opPage{
		page: p, Op: v, ListHref: p.Base,
		EventsURL: p.Base + "events/" + v.Path,
		CancelURL: p.Base + "cancel/" + v.Path,
		DeleteURL: p.Base + "delete/" + v.Path,
		Cancel:    c.cancelAction(), Delete: c.deleteAction(),
	})
}

// action is Cancel or Delete.
type action struct {
	Verb     string // "Cancel" or "Delete"
	Question string
	Warning  string
	call     func(ctx context.Context, name string) error
	// done returns where to go after, relative to the console's root.
	done func(v string) string
}

// confirmPage asks to confirm an action; it is what a POST without
// confirm=yes gets (the script asks in a dialog instead and confirms).
type confirmPage struct {
	page
	Action    action
	Name      string
	ActionURL string
	BackHref  string
}

func (c *console) cancel(w http.ResponseWriter, r *http.Request) { c.act(w, r, c.cancelAction()) }

func (c *console) delete(w http.ResponseWriter, r *http.Request) { c.act(w, r, c.deleteAction()) }

func (c *console) cancelAction() action {
	return action{
		Verb:     "Cancel",
		Question: "Cancel this operation?",
		Warning:  "Its work is asked to stop; the operation then ends CANCELLED, unless it finishes first.",
		call: func(ctx context.Context, name string) error {
			_, err := c.ops.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: name})
			return err
		},
		done: func(path string) string { return "op/" + path },
	}
}

func (c *console) deleteAction() action {
	return action{
		Verb:     "Delete",
		Question: "Delete this operation?",
		Warning:  "Its record is removed for good. Work still running is not stopped, and its result is dropped.",
		call: func(ctx context.Context, name string) error {
			_, err := c.ops.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: name})
			return err
		},
		done: func(string) string { return "?deleted=1" },
	}
}

// maxFormBytes bounds an action's form body (it holds one field).
const maxFormBytes = 4 << 10

// act performs a confirmed action and goes back to a page; an unconfirmed
// one gets the confirmation page. Cross-origin requests never get here
// (see New).
func (c *console) act(w http.ResponseWriter, r *http.Request, a action) {
	name := r.PathValue("name")
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		c.errorPage(w, r, http.StatusBadRequest, "INVALID_ARGUMENT", "The form could not be read: "+err.Error())
		return
	}
	p := c.page(r, a.Verb+" "+name)
	if r.PostForm.Get("confirm") != "yes" {
		c.html(w, http.StatusOK, "confirm.html", confirmPage{
			page: p, Action: a, Name: name,
			ActionURL: p.Base + strings.ToLower(a.Verb) + "/" + opPath(name),
			BackHref:  p.Base + "op/" + opPath(name),
		})
		return
	}
	if err := a.call(r.Context(), name); err != nil {
		c.fail(w, r, err)
		return
	}
	// Not http.Redirect: it resolves relative URLs against the path the
	// console sees, which lacks the prefix a host stripped.
	w.Header().Set("Location", p.Base+a.done(opPath(name)))
	w.WriteHeader(http.StatusSeeOther)
}
