package lroweb

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// assetServer serves the embedded CSS, JS and icon. Their URLs carry a hash
// of their content, so browsers may cache them for long.
type assetServer struct {
	files  map[string][]byte
	hashes map[string]string
}

func newAssetServer() (*assetServer, error) {
	a := &assetServer{files: map[string][]byte{}, hashes: map[string]string{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		name := path.Base(p)
		sum := sha256.Sum256(b)
		a.files[name] = b
		a.hashes[name] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lroweb: reading the embedded assets: %w", err)
	}
	return a, nil
}

// url returns the path of a static file relative to the console's root.
func (a *assetServer) url(name string) string {
	return "static/" + name + "?v=" + a.hashes[name]
}

func (a *assetServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	b, ok := a.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write(b)
}

// parsePages parses the page templates.
func parsePages() (*template.Template, error) {
	t, err := template.New("").ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("lroweb: parsing the templates: %w", err)
	}
	return t, nil
}
