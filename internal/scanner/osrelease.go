package scanner

import (
	"bufio"
	"bytes"
	"strings"
)

// Distro is the operating system of an image, from its os-release file.
type Distro struct {
	ID         string `json:"id"`                 // "debian", "ubuntu", "alpine", "rhel", ...
	VersionID  string `json:"version_id"`         // "12", "22.04", "3.20.3", "9.4"
	Codename   string `json:"codename,omitempty"` // "bookworm"
	PrettyName string `json:"pretty_name,omitempty"`
	Name       string `json:"name,omitempty"`     // "Debian GNU/Linux"
	CPE        string `json:"cpe_name,omitempty"` // CPE_NAME
	IDLike     string `json:"id_like,omitempty"`  // ID_LIKE
}

// maxOSRelease bounds the os-release content that is parsed.
const maxOSRelease = 64 << 10

// parseOSRelease reads an os-release(5) file: KEY=value lines, values
// optionally in double or single quotes with backslash escapes inside double
// quotes, comments and blank lines ignored. Unknown keys are dropped.
func parseOSRelease(b []byte) Distro {
	if len(b) > maxOSRelease {
		b = b[:maxOSRelease]
	}
	kv := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxOSRelease)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			continue
		}
		kv[k] = unquote(strings.TrimSpace(v))
	}
	d := Distro{ID: strings.ToLower(kv["ID"]), VersionID: kv["VERSION_ID"], Codename: kv["VERSION_CODENAME"],
		PrettyName: kv["PRETTY_NAME"], Name: kv["NAME"], CPE: kv["CPE_NAME"], IDLike: kv["ID_LIKE"]}
	if d.Codename == "" && d.ID == "ubuntu" {
		d.Codename = kv["UBUNTU_CODENAME"]
	}
	if d.Codename == "" && d.ID == "debian" {
		// Debian's os-release has "VERSION="12 (bookworm)"" on older releases.
		if _, rest, ok := strings.Cut(kv["VERSION"], "("); ok {
			d.Codename, _, _ = strings.Cut(rest, ")")
		}
	}
	return d
}

// unquote strips one level of shell-like quoting.
func unquote(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return v[1 : len(v)-1]
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) && strings.IndexByte("\"\\$`", v[i+1]) >= 0 {
				i++
			}
			b.WriteByte(v[i])
		}
		return b.String()
	}
	return v
}
