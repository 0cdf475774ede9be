package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/wharfhq/wharf/internal/core"
)

// effectiveLabels are the quay.* labels a new manifest keeps: its own, and
// for an index the ones every child stored in the repository shares (Quay
// intersects the children's labels, so a multi-platform image built with a
// label acts like a single one).
func effectiveLabels(ctx context.Context, t *tx, repoID int64, m PutManifest) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range m.Labels {
		if strings.HasPrefix(k, core.LabelPrefix) {
			out[k] = v
		}
	}
	var shared map[string]string
	for _, d := range uniqueDigests(m.Children) {
		var stored sql.NullString
		err := t.queryRow(ctx, `SELECT labels FROM manifests WHERE repository_id = ? AND digest = ?`, repoID, string(d)).Scan(&stored)
		if errors.Is(err, sql.ErrNoRows) {
			continue // a sparse index may name children the repository does not hold
		}
		if err != nil {
			return nil, fmt.Errorf("child labels: %w", err)
		}
		child, err := decodeLabels(stored)
		if err != nil {
			return nil, err
		}
		if shared == nil {
			shared = maps.Clone(child)
			continue
		}
		for k, v := range shared {
			if cv, ok := child[k]; !ok || cv != v {
				delete(shared, k)
			}
		}
	}
	for k, v := range shared {
		if _, own := out[k]; !own {
			out[k] = v
		}
	}
	return out, nil
}

func encodeLabels(labels map[string]string) (sql.NullString, error) {
	if len(labels) == 0 {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(labels)
	if err != nil {
		return sql.NullString{}, fmt.Errorf("encode labels: %w", err)
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

func decodeLabels(s sql.NullString) (map[string]string, error) {
	out := map[string]string{}
	if !s.Valid || s.String == "" {
		return out, nil
	}
	if err := json.Unmarshal([]byte(s.String), &out); err != nil {
		return nil, fmt.Errorf("decode labels: %w", err)
	}
	return out, nil
}
