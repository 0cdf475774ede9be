package proxycache

import (
	"mime"
	"strconv"
	"strings"
)

// AcceptSet is what a client's Accept header accepts.
type AcceptSet struct {
	all   bool
	types map[string]bool
}

// maxAcceptEntries bounds the media ranges read from one header.
const maxAcceptEntries = 64

// ParseAccept reads an Accept header (its values joined by commas). An
// absent or unreadable header, "*/*" and "application/*" accept every
// manifest kind; a media range with q=0 is refused; parameters other than q
// are ignored.
func ParseAccept(h string) AcceptSet {
	set := AcceptSet{types: map[string]bool{}}
	valid := 0
	for i, part := range strings.SplitN(h, ",", maxAcceptEntries+1) {
		if i >= maxAcceptEntries {
			break
		}
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		mt, params, err := mime.ParseMediaType(part)
		if err != nil {
			continue
		}
		valid++
		if q, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v <= 0 {
				continue
			}
		}
		switch mt {
		case "*/*", "application/*":
			set.all = true
		default:
			set.types[mt] = true
		}
	}
	if valid == 0 {
		set.all = true
	}
	return set
}

// Accepts reports whether the set accepts media type mt.
func (a AcceptSet) Accepts(mt string) bool {
	return a.all || a.types[mt]
}
