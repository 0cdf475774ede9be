// Route matching for the client-side router. A route path has literal
// segments, :name (exactly one segment) and at most one *name (one or more
// segments; *repo needs two or more: namespace/name). Routes with more
// literal segments are tried first, so /repository/*repo/settings wins over
// /repository/*repo.

function compile(route) {
  const segs = route.path.split('/').filter(Boolean);
  const literals = segs.filter((s) => !s.startsWith(':') && !s.startsWith('*')).length;
  return { ...route, segs, literals };
}

// matchSegs matches path segments against a pattern; it returns the params
// or null.
export function matchSegs(pat, segs) {
  const params = {};
  const star = pat.findIndex((s) => s.startsWith('*'));
  if (star < 0 && pat.length !== segs.length) return null;
  if (star >= 0 && segs.length < pat.length) return null;
  const after = star < 0 ? 0 : pat.length - star - 1;
  for (let i = 0; i < pat.length; i += 1) {
    const p = pat[i];
    if (i === star) {
      const taken = segs.slice(i, segs.length - after);
      if (taken.length < (p === '*repo' ? 2 : 1)) return null;
      params[p.slice(1)] = taken.join('/');
      continue;
    }
    const s = star >= 0 && i > star ? segs[segs.length - (pat.length - i)] : segs[i];
    if (p.startsWith(':')) {
      if (!s) return null;
      params[p.slice(1)] = s;
    } else if (p !== s) {
      return null;
    }
  }
  return params;
}

// matcher returns match(pathname) → {route, params} or null.
export function matcher(routes) {
  let table = null;
  return (pathname) => {
    if (!table) {
      table = routes.map(compile);
      table.sort((a, b) => b.literals - a.literals);
    }
    let segs;
    try {
      segs = pathname.split('/').filter(Boolean).map(decodeURIComponent);
    } catch (_) {
      return null;
    }
    for (const r of table) {
      const params = matchSegs(r.segs, segs);
      if (params) return { route: r, params };
    }
    return null;
  };
}
