//! HTTP trigger routes as Spin reads them: `/path` matches exactly that path,
//! `/path/...` matches `/path` and everything below it, `/...` matches
//! everything. An exact route wins over any wildcard; among wildcards the
//! longest prefix wins.
//!
//! ```
//! use studio_edge::routes::Router;
//!
//! let mut router = Router::default();
//! router.add("/...", "fallback")?;
//! router.add("/v1/thumbnail/...", "thumbnail")?;
//! router.add("/v1/thumbnail/health", "health")?;
//! assert_eq!(router.route("/v1/thumbnail/a.jpg").unwrap().component, "thumbnail");
//! assert_eq!(router.route("/v1/thumbnail/a.jpg").unwrap().path_info, "/a.jpg");
//! assert_eq!(router.route("/v1/thumbnail/health").unwrap().component, "health");
//! assert_eq!(router.route("/elsewhere").unwrap().component, "fallback");
//! # Ok::<(), studio_edge::routes::RouterError>(())
//! ```

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    #[error("route {route:?}: {reason}")]
    Invalid { route: String, reason: &'static str },
    #[error("route {0:?} is declared twice")]
    Duplicate(String),
}

/// A parsed route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutePattern {
    /// Matches this path only (no trailing slash, except the root `/`).
    Exact(String),
    /// Matches this prefix and anything below it at a segment boundary;
    /// the empty prefix (from `/...`) matches everything.
    Wildcard(String),
}

impl RoutePattern {
    pub fn parse(route: &str) -> Result<Self, RouterError> {
        let invalid = |reason| RouterError::Invalid {
            route: route.to_owned(),
            reason,
        };
        if !route.starts_with('/') {
            return Err(invalid("a route starts with '/'"));
        }
        if route.contains(['?', '#']) {
            return Err(invalid("a route is a path, without query or fragment"));
        }
        if route.split('/').any(|segment| segment.starts_with(':')) {
            return Err(invalid("named (':name') segments are not supported"));
        }
        if let Some(prefix) = route.strip_suffix("/...") {
            if prefix.contains("...") {
                return Err(invalid("'...' may only end a route"));
            }
            return Ok(Self::Wildcard(normalise(prefix)));
        }
        if route.contains("...") {
            return Err(invalid("'...' may only end a route, after a '/'"));
        }
        let exact = normalise(route);
        Ok(Self::Exact(if exact.is_empty() {
            "/".to_owned()
        } else {
            exact
        }))
    }

    /// For a wildcard, what follows the prefix in `path` (`spin-path-info`).
    fn matches(&self, path: &str) -> Option<String> {
        match self {
            Self::Exact(exact) => {
                let path = if path == "/" {
                    path
                } else {
                    path.trim_end_matches('/')
                };
                (path == exact).then(String::new)
            }
            Self::Wildcard(prefix) => {
                let rest = path.strip_prefix(prefix.as_str())?;
                (rest.is_empty() || rest.starts_with('/')).then(|| rest.to_owned())
            }
        }
    }

    /// The route without its `/...` (`spin-component-route`).
    pub fn prefix(&self) -> &str {
        match self {
            Self::Exact(path) | Self::Wildcard(path) => path,
        }
    }
}

/// The path without trailing slashes (the root becomes empty).
fn normalise(path: &str) -> String {
    path.trim_end_matches('/').to_owned()
}

impl fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(path) => f.write_str(path),
            Self::Wildcard(prefix) => write!(f, "{prefix}/..."),
        }
    }
}

/// The route table of an application.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<(RoutePattern, String)>,
}

/// Which component a path goes to, and how it matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'r> {
    pub component: &'r str,
    pub pattern: &'r RoutePattern,
    /// What follows the wildcard prefix, empty for an exact route.
    pub path_info: String,
}

impl Router {
    /// Adds `route` for `component`; the same route twice is an error.
    pub fn add(&mut self, route: &str, component: &str) -> Result<(), RouterError> {
        let pattern = RoutePattern::parse(route)?;
        if self.routes.iter().any(|(existing, _)| *existing == pattern) {
            return Err(RouterError::Duplicate(route.to_owned()));
        }
        self.routes.push((pattern, component.to_owned()));
        Ok(())
    }

    /// The most specific route matching `path` (a path without query).
    pub fn route(&self, path: &str) -> Option<RouteMatch<'_>> {
        let exact = self.routes.iter().find_map(|(pattern, component)| {
            matches!(pattern, RoutePattern::Exact(_))
                .then(|| pattern.matches(path))
                .flatten()
                .map(|path_info| (pattern, component, path_info))
        });
        let best = exact.or_else(|| {
            self.routes
                .iter()
                .filter(|(pattern, _)| matches!(pattern, RoutePattern::Wildcard(_)))
                .filter_map(|(pattern, component)| {
                    pattern
                        .matches(path)
                        .map(|path_info| (pattern, component, path_info))
                })
                .max_by_key(|(pattern, _, _)| pattern.prefix().len())
        });
        best.map(|(pattern, component, path_info)| RouteMatch {
            component,
            pattern,
            path_info,
        })
    }

    /// The routes in declaration order.
    pub fn routes(&self) -> impl Iterator<Item = (&RoutePattern, &str)> {
        self.routes.iter().map(|(p, c)| (p, c.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        let mut router = Router::default();
        for (route, component) in routes {
            router.add(route, component).unwrap();
        }
        router
    }

    fn target(router: &Router, path: &str) -> Option<(String, String)> {
        router
            .route(path)
            .map(|m| (m.component.to_owned(), m.path_info))
    }

    #[test]
    fn wildcard_matches_prefix_and_below_at_segment_boundaries() {
        let r = router(&[("/x/...", "x")]);
        assert_eq!(target(&r, "/x"), Some(("x".into(), "".into())));
        assert_eq!(target(&r, "/x/"), Some(("x".into(), "/".into())));
        assert_eq!(target(&r, "/x/a/b"), Some(("x".into(), "/a/b".into())));
        assert_eq!(target(&r, "/xy"), None);
        assert_eq!(target(&r, "/"), None);
    }

    #[test]
    fn exact_routes_match_only_themselves() {
        let r = router(&[("/health", "h"), ("/", "root")]);
        assert_eq!(target(&r, "/health"), Some(("h".into(), "".into())));
        assert_eq!(target(&r, "/health/"), Some(("h".into(), "".into())));
        assert_eq!(target(&r, "/health/x"), None);
        assert_eq!(target(&r, "/"), Some(("root".into(), "".into())));
        assert_eq!(target(&r, "/other"), None);
    }

    #[test]
    fn most_specific_wins_whatever_the_order() {
        let r = router(&[
            ("/...", "all"),
            ("/a/...", "a"),
            ("/a/b/...", "ab"),
            ("/a/b/c", "abc"),
        ]);
        assert_eq!(target(&r, "/a/b/c").unwrap().0, "abc");
        assert_eq!(target(&r, "/a/b/c/d").unwrap().0, "ab");
        assert_eq!(target(&r, "/a/b").unwrap().0, "ab");
        assert_eq!(target(&r, "/a/x").unwrap().0, "a");
        assert_eq!(target(&r, "/z"), Some(("all".into(), "/z".into())));
    }

    #[test]
    fn display_and_prefix() {
        let wildcard = RoutePattern::parse("/v1/thumbnail/...").unwrap();
        assert_eq!(wildcard.to_string(), "/v1/thumbnail/...");
        assert_eq!(wildcard.prefix(), "/v1/thumbnail");
        assert_eq!(RoutePattern::parse("/...").unwrap().to_string(), "/...");
        assert_eq!(RoutePattern::parse("/a/").unwrap().to_string(), "/a");
    }

    #[test]
    fn invalid_routes() {
        for bad in ["x", "/a/.../b", "/a...", "/:id/...", "/a?b"] {
            assert!(RoutePattern::parse(bad).is_err(), "{bad}");
        }
        let mut r = router(&[("/a/...", "a")]);
        assert_eq!(
            r.add("/a/...", "b"),
            Err(RouterError::Duplicate("/a/...".into()))
        );
    }
}
