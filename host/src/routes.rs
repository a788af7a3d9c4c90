//! HTTP trigger routes as Spin reads them: `/path` matches exactly that path,
//! `/path/...` matches `/path` and everything below it, `/...` matches
//! everything, and a `:name` segment matches any one segment (its value
//! reaches the component as `spin-path-match-<name>`). As Spin's router
//! decides, routes are compared segment by segment and the first
//! difference picks the winner: a literal segment beats a `:name`, which
//! beats the end of an exact route, which beats a trailing `/...`. A route
//! declared twice is served by its last declaration, as in Spin.
//!
//! ```
//! use studio_edge::routes::Router;
//!
//! let mut router = Router::default();
//! router.add("/...", "fallback")?;
//! router.add("/v1/thumbnail/...", "thumbnail")?;
//! router.add("/v1/thumbnail/health", "health")?;
//! router.add("/shop/:sku/...", "shop")?;
//! assert_eq!(router.route("/v1/thumbnail/a.jpg").unwrap().component, "thumbnail");
//! assert_eq!(router.route("/v1/thumbnail/a.jpg").unwrap().path_info, "/a.jpg");
//! assert_eq!(router.route("/v1/thumbnail/health").unwrap().component, "health");
//! assert_eq!(router.route("/elsewhere").unwrap().component, "fallback");
//! let shop = router.route("/shop/lip-01/reviews").unwrap();
//! assert_eq!(shop.captures, [("sku".to_owned(), "lip-01".to_owned())]);
//! assert_eq!(shop.path_info, "/reviews");
//! # Ok::<(), studio_edge::routes::RouterError>(())
//! ```

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    #[error("route {route:?}: {reason}")]
    Invalid { route: String, reason: &'static str },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `:name`
    Named(String),
}

/// A parsed route.
#[derive(Debug, Clone)]
pub struct RoutePattern {
    /// As written in the manifest (`spin-matched-route`).
    raw: String,
    segments: Vec<Segment>,
    /// Ends in `/...`.
    wildcard: bool,
}

impl PartialEq for RoutePattern {
    fn eq(&self, other: &Self) -> bool {
        self.segments == other.segments && self.wildcard == other.wildcard
    }
}

impl Eq for RoutePattern {}

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
        let (path, wildcard) = match route.strip_suffix("/...") {
            Some(prefix) => (prefix, true),
            None => (route, false),
        };
        if path.contains("...") {
            return Err(invalid("'...' may only end a route, after a '/'"));
        }
        let segments = path
            .split('/')
            .filter(|segment| !segment.is_empty())
            .map(|segment| match segment.strip_prefix(':') {
                Some("") => Err(invalid("a ':' segment needs a name")),
                Some(name) => Ok(Segment::Named(name.to_owned())),
                None => Ok(Segment::Literal(segment.to_owned())),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            raw: route.to_owned(),
            segments,
            wildcard,
        })
    }

    /// The route as written (`spin-matched-route`, `spin-raw-component-route`).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The route as written without its `/...` (`spin-component-route`).
    pub fn prefix(&self) -> &str {
        self.raw.strip_suffix("/...").unwrap_or(&self.raw)
    }

    /// What follows the wildcard prefix in `path` (`spin-path-info`) and
    /// the named segments' values, if `path` matches.
    fn matches(&self, path: &str) -> Option<(String, Vec<(String, String)>)> {
        let mut rest = path;
        let mut captures = Vec::new();
        for segment in &self.segments {
            let after = rest.strip_prefix('/')?;
            let end = after.find('/').unwrap_or(after.len());
            let value = &after[..end];
            match segment {
                Segment::Literal(literal) if literal == value => {}
                Segment::Named(name) if !value.is_empty() => {
                    captures.push((name.clone(), value.to_owned()));
                }
                _ => return None,
            }
            rest = &after[end..];
        }
        if self.wildcard {
            return Some((rest.to_owned(), captures));
        }
        // An exact route also matches with a trailing slash.
        matches!(rest, "" | "/").then(|| (String::new(), captures))
    }

    /// Higher ranks win, compared segment by segment: literal 3, `:name`
    /// 2, then the end of an exact route 1 or a trailing `/...` 0.
    fn rank(&self) -> Vec<u8> {
        self.segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(_) => 3,
                Segment::Named(_) => 2,
            })
            .chain([u8::from(!self.wildcard)])
            .collect()
    }
}

/// The normalised route (duplicates compare equal).
impl fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            match segment {
                Segment::Literal(literal) => write!(f, "/{literal}")?,
                Segment::Named(name) => write!(f, "/:{name}")?,
            }
        }
        match (self.wildcard, self.segments.is_empty()) {
            (true, _) => f.write_str("/..."),
            (false, true) => f.write_str("/"),
            (false, false) => Ok(()),
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
    /// The `:name` segments' values, in route order.
    pub captures: Vec<(String, String)>,
}

impl Router {
    /// Adds `route` for `component`. A route declared again shadows the
    /// earlier declaration (logged, as Spin does).
    pub fn add(&mut self, route: &str, component: &str) -> Result<(), RouterError> {
        let pattern = RoutePattern::parse(route)?;
        if let Some((_, earlier)) = self
            .routes
            .iter()
            .find(|(existing, _)| *existing == pattern)
        {
            tracing::warn!(
                route,
                unreachable = %earlier,
                served_by = component,
                "route declared twice: the last declaration serves it"
            );
        }
        self.routes.push((pattern, component.to_owned()));
        Ok(())
    }

    /// The most specific route matching `path` (a path without query); of
    /// equal routes, the last declared.
    pub fn route(&self, path: &str) -> Option<RouteMatch<'_>> {
        self.routes
            .iter()
            .filter_map(|(pattern, component)| {
                let (path_info, captures) = pattern.matches(path)?;
                Some(RouteMatch {
                    component,
                    pattern,
                    path_info,
                    captures,
                })
            })
            .max_by_key(|m| m.pattern.rank())
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
    fn named_segments_capture_one_segment_each() {
        let r = router(&[
            ("/base/:path_segment/:path_end/...", "shape"),
            ("/base/fixed/:x", "fixed"),
            ("/items/:id", "item"),
        ]);
        let m = r.route("/base/path/end/rest").unwrap();
        assert_eq!(m.component, "shape");
        assert_eq!(m.path_info, "/rest");
        assert_eq!(
            m.captures,
            [
                ("path_segment".to_owned(), "path".to_owned()),
                ("path_end".to_owned(), "end".to_owned())
            ]
        );
        assert_eq!(r.route("/base/fixed/y").unwrap().component, "fixed");
        // The first differing segment decides: a literal beats a `:name`,
        // even when the literal's route ends in a wildcard.
        let r2 = router(&[("/item/:sku", "sku"), ("/item/special/...", "special")]);
        assert_eq!(r2.route("/item/special").unwrap().component, "special");
        assert_eq!(r2.route("/item/other").unwrap().component, "sku");
        assert_eq!(r.route("/base/other/y").unwrap().component, "shape");
        assert_eq!(r.route("/items/7").unwrap().captures[0].1, "7");
        assert!(r.route("/items/7/more").is_none());
        assert!(r.route("/items/").is_none());
        assert!(r.route("/base/only").is_none());
    }

    #[test]
    fn display_and_prefix() {
        let wildcard = RoutePattern::parse("/v1/thumbnail/...").unwrap();
        assert_eq!(wildcard.to_string(), "/v1/thumbnail/...");
        assert_eq!(wildcard.prefix(), "/v1/thumbnail");
        let named = RoutePattern::parse("/base/:path_segment/:path_end/...").unwrap();
        assert_eq!(named.raw(), "/base/:path_segment/:path_end/...");
        assert_eq!(named.prefix(), "/base/:path_segment/:path_end");
        assert_eq!(RoutePattern::parse("/...").unwrap().to_string(), "/...");
        assert_eq!(RoutePattern::parse("/a/").unwrap().to_string(), "/a");
    }

    #[test]
    fn invalid_routes() {
        for bad in ["x", "/a/.../b", "/a...", "/:/x", "/a?b"] {
            assert!(RoutePattern::parse(bad).is_err(), "{bad}");
        }
        let mut r = router(&[("/a/...", "a")]);
        r.add("/a/", "exact").unwrap();
        r.add("/a/...", "b").unwrap();
        assert_eq!(
            target(&r, "/a/x").unwrap().0,
            "b",
            "the last declaration serves"
        );
        assert_eq!(target(&r, "/a").unwrap().0, "exact");
    }
}
