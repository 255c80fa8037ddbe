package web

import (
	"embed"
	"io/fs"
	"net/http"
)

// dashboardFiles is the single-page dashboard: plain HTML, CSS and JS with
// no build step, served from the binary. vendor/ holds uPlot, which draws the
// utilization plot (its version and origin are in vendor/README).
//
//go:embed dashboard/index.html dashboard/app.js dashboard/style.css
//go:embed dashboard/vendor/uPlot.iife.min.js dashboard/vendor/uPlot.min.css dashboard/vendor/uPlot.LICENSE
var dashboardFiles embed.FS

// dashboardCSP allows only the dashboard's own files, so that text from the
// cluster can never run as script even if it slipped into the page.
const dashboardCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

func dashboardHandler() http.Handler {
	root, err := fs.Sub(dashboardFiles, "dashboard")
	if err != nil {
		panic("web: dashboard files: " + err.Error()) // a build error, not a runtime one
	}
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeErrorBody(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path, "")
			return
		}
		w.Header().Set("Content-Security-Policy", dashboardCSP)
		// The files change only with the binary; revalidate so an upgrade shows at once.
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
