package app

import (
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/internal/proxycache"
	"github.com/wharfhq/wharf/internal/registry"
)

// newProxyCache builds the pull-through cache of proxy-cache organizations
// (FEATURE_PROXY_CACHE); nil when the feature is off.
func (a *App) newProxyCache() *proxycache.Service {
	if !a.cfg.ProxyCache {
		return nil
	}
	return proxycache.New(a.db, a.blobs, a.box, a.log, proxycache.Options{
		UpstreamAllowlist:      a.cfg.ProxyCacheUpstreamAllowlist,
		BlockInternalUpstreams: a.cfg.ProxyCacheBlockInternalUpstreams,
	})
}

// registryUpstream is the cache as the registry's Upstream (nil when off,
// never a typed nil).
func registryUpstream(pc *proxycache.Service) registry.Upstream {
	if pc == nil {
		return nil
	}
	return pc
}

// apiProxyCache is the cache as the API's ProxyCache (nil when off).
func apiProxyCache(pc *proxycache.Service) api.ProxyCache {
	if pc == nil {
		return nil
	}
	return pc
}
