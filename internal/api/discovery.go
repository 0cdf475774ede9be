package api

import (
	"net/http"
	"sort"
	"strings"
)

func (h *Handler) discoveryRoutes() {
	h.rt.handle("GET", "/discovery", h.discovery)
}

// discovery serves an OpenAPI 3 description of the routes this server
// implements, generated from the route table so it cannot drift.
func (h *Handler) discovery(w http.ResponseWriter, r *http.Request, _ params) error {
	paths := map[string]map[string]any{}
	for _, rt := range h.rt.routes {
		p := "/api/v1/" + strings.Join(rt.segs, "/")
		ops := paths[p]
		if ops == nil {
			ops = map[string]any{}
			paths[p] = ops
		}
		var ps []map[string]any
		for _, s := range rt.segs {
			if strings.HasPrefix(s, "{") {
				ps = append(ps, map[string]any{"name": strings.Trim(s, "{}"), "in": "path", "required": true, "schema": map[string]string{"type": "string"}})
			}
		}
		op := map[string]any{
			"operationId": strings.ToLower(rt.method) + strings.ReplaceAll(strings.ReplaceAll(p, "/", "_"), "{", ""),
			"responses":   map[string]any{"default": map[string]string{"description": "Quay-compatible response"}},
		}
		if ps != nil {
			op["parameters"] = ps
		}
		ops[strings.ToLower(rt.method)] = op
	}
	keys := make([]string, 0, len(paths))
	for k := range paths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	writeJSON(w, http.StatusOK, map[string]any{
		"openapi": "3.0.3",
		"info":    map[string]string{"title": "Wharf API (Quay-compatible)", "version": "v1"},
		"servers": []map[string]string{{"url": h.baseURL(r)}},
		"paths":   paths,
		"x-paths": keys,
	})
	return nil
}
