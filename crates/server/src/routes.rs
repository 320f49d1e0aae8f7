//! The route table: every route the server answers, and which one a method and path name.
//! Paths are matched segment by segment against fixed words and ids of a fixed shape, so
//! `..`, encoded slashes and overlong ids simply match no route (`404`); nothing from a
//! path ever reaches the filesystem.

use http::Method;

macro_rules! routes {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// Every route, for metrics labels.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Route { $($variant),+ }

        impl Route {
            pub const ALL: &'static [Route] = &[$(Route::$variant),+];

            pub fn name(self) -> &'static str {
                match self { $(Route::$variant => $name),+ }
            }
        }
    };
}

routes! {
    Health => "healthz",
    Ready => "readyz",
    Metrics => "metrics",
    OpenApi => "openapi",
    ProblemType => "problem_type",
    Search => "search",
    Asset => "asset",
    Similar => "similar",
    Upload => "upload",
    Preview => "preview",
    License => "license",
    Download => "download",
    Licence => "licence",
    VerifyLicence => "verify_licence",
    Certificate => "certificate",
    Withdraw => "withdraw",
    Takedown => "takedown",
    Duplicates => "moderation_duplicates",
    Queue => "moderation_queue",
    Approve => "approve",
    Reject => "reject",
    Flags => "moderation_flags",
    BlockMember => "block_member",
    ClearMember => "clear_member",
    Blocklist => "moderation_blocklist",
    ImportBlocklist => "import_blocklist",
    LiftBlock => "lift_block",
    Audit => "moderation_audit",
    Me => "me",
    MyDownloads => "my_downloads",
    MyExport => "my_export",
    EraseMe => "erase_me",
    RotateKey => "rotate_key",
    ChangeMembership => "change_membership",
    AuthorStats => "author_stats",
    Purges => "purges",
    Console => "console",
    ConsoleSignInPage => "console_sign_in_page",
    ConsoleSignIn => "console_sign_in",
    ConsoleSignOut => "console_sign_out",
    ConsoleDecide => "console_decide",
    ConsoleSection => "console_section",
    ConsoleCheck => "console_check",
    ConsoleMember => "console_member",
    ConsoleLift => "console_lift",
    Unknown => "unknown",
}

/// The route a method and path name (`Unknown` for none).
pub fn route(method: &Method, path: &str) -> Route {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or("\0").split('/').collect();
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    let delete = method == Method::DELETE;
    match segments.as_slice() {
        ["healthz"] if get => Route::Health,
        ["readyz"] if get => Route::Ready,
        ["metrics"] if get => Route::Metrics,
        ["openapi.json"] if get => Route::OpenApi,
        ["problems", _] if get => Route::ProblemType,
        ["v1", "search"] if get => Route::Search,
        ["v1", "assets"] if post => Route::Upload,
        ["v1", "assets", _] if get => Route::Asset,
        ["v1", "assets", _, "similar"] if get => Route::Similar,
        ["v1", "assets", _] if delete => Route::Withdraw,
        ["v1", "assets", _, "licenses"] if post => Route::License,
        ["v1", "previews", _, _] if get => Route::Preview,
        ["v1", "download", _] if get => Route::Download,
        ["v1", "licenses", _] if get => Route::Licence,
        ["v1", "licenses", _, "verify"] if get => Route::VerifyLicence,
        ["v1", "licenses", _, "certificate"] if get => Route::Certificate,
        ["v1", "moderation", "flags"] if get => Route::Flags,
        ["v1", "moderation", "assets", _, "takedown"] if post => Route::Takedown,
        ["v1", "moderation", "assets", _, "approve"] if post => Route::Approve,
        ["v1", "moderation", "assets", _, "reject"] if post => Route::Reject,
        ["v1", "moderation", "duplicates"] if post => Route::Duplicates,
        ["v1", "moderation", "queue"] if get => Route::Queue,
        ["v1", "moderation", "members", _, "block"] if post => Route::BlockMember,
        ["v1", "moderation", "members", _, "clear"] if post => Route::ClearMember,
        ["v1", "moderation", "blocklist"] if get => Route::Blocklist,
        ["v1", "moderation", "blocklist"] if post => Route::ImportBlocklist,
        ["v1", "moderation", "blocklist", _, "lift"] if post => Route::LiftBlock,
        ["v1", "moderation", "audit"] if get => Route::Audit,
        ["v1", "members", "me"] if get => Route::Me,
        ["v1", "members", "me"] if delete => Route::EraseMe,
        ["v1", "members", "me", "downloads"] if get => Route::MyDownloads,
        ["v1", "members", "me", "export"] if get => Route::MyExport,
        ["v1", "members", "me", "seats", _, "key"] if post => Route::RotateKey,
        ["v1", "admin", "members", _, "membership"] if post => Route::ChangeMembership,
        ["v1", "authors", _, "stats"] if get => Route::AuthorStats,
        ["v1", "purges"] if get => Route::Purges,
        ["console"] | ["console", ""] if get => Route::Console,
        ["console", "sign-in"] if get => Route::ConsoleSignInPage,
        ["console", "sign-in"] if post => Route::ConsoleSignIn,
        ["console", "sign-out"] if post => Route::ConsoleSignOut,
        ["console", "queue", _, "approve" | "reject"] if post => Route::ConsoleDecide,
        ["console", "check" | "members" | "blocklist" | "audit"] if get => Route::ConsoleSection,
        ["console", "check"] if post => Route::ConsoleCheck,
        ["console", "members", _, "block" | "clear"] if post => Route::ConsoleMember,
        ["console", "blocklist", _, "lift"] if post => Route::ConsoleLift,
        _ => Route::Unknown,
    }
}

/// The methods a path has routes for (`HEAD` wherever `GET` is), as a `405`'s `Allow`;
/// `None` when no method routes it.
pub fn allowed_methods(path: &str) -> Option<&'static str> {
    let has = |method: Method| route(&method, path) != Route::Unknown;
    match (has(Method::GET), has(Method::POST), has(Method::DELETE)) {
        (false, false, false) => None,
        (true, false, false) => Some("GET, HEAD"),
        (false, true, false) => Some("POST"),
        (false, false, true) => Some("DELETE"),
        (true, true, false) => Some("GET, HEAD, POST"),
        (true, false, true) => Some("GET, HEAD, DELETE"),
        (false, true, true) => Some("POST, DELETE"),
        (true, true, true) => Some("GET, HEAD, POST, DELETE"),
    }
}

/// A path that `template` (an OpenAPI path, `{id}` and the like in it) stands for, with
/// each placeholder filled by a value of the shape its segment takes.
pub fn sample_path(template: &str) -> String {
    template
        .replace("{id}", "0123456789abcdef")
        .replace("{size}", "large")
        .replace("{token}", "v1.token")
        .replace("{slug}", "not-found")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OpenAPI document and the router agree: every documented operation has a route,
    /// and every route is documented.
    #[test]
    fn every_route_is_in_the_openapi_document_and_back() {
        let document: serde_json::Value =
            serde_json::from_str(include_str!("../openapi.json")).expect("valid JSON");
        let paths = document["paths"].as_object().expect("paths");
        let mut documented = Vec::new();
        for (template, operations) in paths {
            let path = sample_path(template);
            for method in operations.as_object().expect("operations").keys() {
                let method: Method = method.to_uppercase().parse().expect("a method");
                let found = route(&method, &path);
                assert_ne!(found, Route::Unknown, "{method} {template} has no route");
                documented.push(found);
            }
        }
        // The console's pages are HTML for people, not the API.
        let api =
            |route: &&Route| **route != Route::Unknown && !route.name().starts_with("console");
        for route in Route::ALL.iter().filter(api) {
            assert!(documented.contains(route), "{route:?} is not documented");
        }
    }

    #[test]
    fn paths_with_tricks_route_nowhere() {
        for path in [
            "/v1/previews/../../etc/passwd",
            "/v1/search/",
            "//v1/search",
            "/v1/assets/x/licenses/extra",
            "v1/search",
            "",
        ] {
            assert_eq!(route(&Method::GET, path), Route::Unknown, "{path}");
        }
        assert_eq!(route(&Method::PUT, "/v1/search"), Route::Unknown);
    }

    #[test]
    fn a_path_with_routes_for_other_methods_names_them() {
        assert_eq!(allowed_methods("/v1/search"), Some("GET, HEAD"));
        assert_eq!(
            allowed_methods("/v1/assets/0123456789abcdef"),
            Some("GET, HEAD, DELETE")
        );
        assert_eq!(allowed_methods("/v1/assets"), Some("POST"));
        assert_eq!(allowed_methods("/v1/nothing"), None);
        assert_eq!(allowed_methods("/v1/assets/not-an-id/x"), None);
    }
}
