package api

import (
	"net/http"
	"sort"
	"strings"
)

// handlerFunc handles one API route; a returned error is written once, in
// Quay's error shape.
type handlerFunc func(w http.ResponseWriter, r *http.Request, p params) error

// params are the path parameters of a matched route.
type params map[string]string

// route is one method + pattern. Pattern segments are literals or {name};
// {repo} matches a repository name of two or more segments.
type route struct {
	method   string
	segs     []string
	literals int
	h        handlerFunc
	// readOnlyOK keeps a non-GET route working while the registry is
	// read-only (signing in and out, the switch itself).
	readOnlyOK bool
}

type router struct {
	routes []route
}

func (rt *router) handle(method, pattern string, h handlerFunc) {
	segs := strings.Split(strings.Trim(pattern, "/"), "/")
	lit := 0
	for _, s := range segs {
		if !strings.HasPrefix(s, "{") {
			lit++
		}
	}
	rt.routes = append(rt.routes, route{method: method, segs: segs, literals: lit, h: h})
}

// handleReadOnlyOK registers a route that keeps working while the registry
// is read-only.
func (rt *router) handleReadOnlyOK(method, pattern string, h handlerFunc) {
	rt.handle(method, pattern, h)
	rt.routes[len(rt.routes)-1].readOnlyOK = true
}

// sort puts routes with more literal segments first, so
// /repository/{repo}/permissions/user/{u} wins over /repository/{repo}.
func (rt *router) sort() {
	sort.SliceStable(rt.routes, func(i, j int) bool { return rt.routes[i].literals > rt.routes[j].literals })
}

// match finds the handler for a path (already stripped of its /api/v1
// prefix). found reports whether any route matched the path with another
// method.
func (rt *router) match(method, path string) (r *route, p params, pathFound bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i := range rt.routes {
		r := &rt.routes[i]
		if p, ok := matchSegs(r.segs, segs); ok {
			if r.method == method {
				return r, p, true
			}
			pathFound = true
		}
	}
	return nil, nil, pathFound
}

func matchSegs(pat, segs []string) (params, bool) {
	p := params{}
	if !matchFrom(pat, segs, p) {
		return nil, false
	}
	return p, true
}

func matchFrom(pat, segs []string, p params) bool {
	if len(pat) == 0 {
		return len(segs) == 0
	}
	head := pat[0]
	if head == "{repo}" {
		// At least namespace/name; try the longest first.
		for n := len(segs) - (len(pat) - 1); n >= 2; n-- {
			if n > len(segs) {
				continue
			}
			if matchFrom(pat[1:], segs[n:], p) {
				p["repo"] = strings.Join(segs[:n], "/")
				return true
			}
		}
		return false
	}
	if len(segs) == 0 {
		return false
	}
	if strings.HasPrefix(head, "{") && strings.HasSuffix(head, "}") {
		if segs[0] == "" {
			return false
		}
		if !matchFrom(pat[1:], segs[1:], p) {
			return false
		}
		p[head[1:len(head)-1]] = segs[0]
		return true
	}
	return head == segs[0] && matchFrom(pat[1:], segs[1:], p)
}
