package lrohttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrohttp"
)

// Serve a Manager's operations over REST next to a host's own routes.
func ExampleNewHandler() {
	ctx := context.Background()
	m, err := lro.New()
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close(ctx)

	mux := http.NewServeMux()
	mux.Handle("/v1/", lrohttp.NewHandler(m, lrohttp.WithPattern("projects/*/locations/*")))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	op, err := m.Create(ctx, lro.WithParent("projects/p/locations/l"))
	if err != nil {
		log.Fatal(err)
	}
	if err := m.Complete(ctx, op.GetName(), wrapperspb.String("exported")); err != nil {
		log.Fatal(err)
	}

	resp, err := http.Get(srv.URL + "/v1/" + op.GetName())
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Done     bool
		Response struct {
			Type  string `json:"@type"`
			Value string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, got.Done, got.Response.Type, got.Response.Value)

	resp, err = http.Get(srv.URL + "/v1/projects/p/locations/l/operations/unknown")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error struct {
			Code   int
			Status string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, e.Error.Code, e.Error.Status)
	// Output:
	// 200 true type.googleapis.com/google.protobuf.StringValue exported
	// 404 404 NOT_FOUND
}
