// The UI's routes. path segments: literals, :name (one segment) and *name
// (one or more segments; *repo needs at least two, namespace/name). A route
// with more literal segments wins, so /repository/*repo/settings beats
// /repository/*repo. public routes render without a signed-in user.
// Each page module exports render(root, params, ctx).
export const routes = [
  { path: '/', title: 'Repositories', load: () => import('./pages/repositories.js') },
  { path: '/repository', title: 'Repositories', load: () => import('./pages/repositories.js') },
  { path: '/search', title: 'Search', load: () => import('./pages/repositories.js') },
  { path: '/signin', title: 'Sign in', public: true, load: () => import('./pages/signin.js') },
  { path: '/setup', title: 'Set up Wharf', public: true, load: () => import('./pages/setup.js') },
  { path: '/repository/*repo', title: 'Repository', load: () => import('./pages/repository.js') },
  { path: '/repository/*repo/manifest/:digest/security', title: 'Security report', load: () => import('./pages/security.js') },
  { path: '/organization', title: 'Organizations', load: () => import('./pages/organizations.js') },
  { path: '/organization/:name', title: 'Organization', load: () => import('./pages/organization.js') },
  { path: '/repository/*repo/settings', title: 'Repository settings', load: () => import('./pages/repo-settings.js') },
  { path: '/superuser', title: 'Superuser panel', load: () => import('./pages/superuser.js') },
  { path: '/user/:name', title: 'Account', load: () => import('./pages/user.js') },
];
