//! One rule for query parameters, on every API route: a request may carry only the ones
//! the OpenAPI document lists for its operation, and any other is a `400` naming it (a
//! misspelt filter that was silently ignored returned unfiltered results). The table is
//! read from the served document once, so the document and the rule cannot disagree.
//! The console's pages (HTML forms for people) are not API operations and are not checked.

use std::collections::HashMap;
use std::sync::OnceLock;

use http::Method;

use crate::call::Query;
use crate::problem::ApiError;
use crate::routes::{Route, route, sample_path};

/// Per route, the query parameters its operation documents.
fn table() -> &'static HashMap<Route, Vec<String>> {
    static TABLE: OnceLock<HashMap<Route, Vec<String>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let document: serde_json::Value =
            serde_json::from_str(crate::api::OPENAPI).unwrap_or_default();
        let mut table = HashMap::new();
        let Some(paths) = document["paths"].as_object() else {
            return table;
        };
        let query_names = |parameters: &serde_json::Value| -> Vec<String> {
            parameters
                .as_array()
                .into_iter()
                .flatten()
                .filter(|parameter| parameter["in"] == "query")
                .filter_map(|parameter| parameter["name"].as_str().map(str::to_string))
                .collect()
        };
        for (template, operations) in paths {
            let shared = query_names(&operations["parameters"]);
            let Some(operations) = operations.as_object() else {
                continue;
            };
            for (method, operation) in operations {
                let Ok(method) = method.to_uppercase().parse::<Method>() else {
                    continue;
                };
                let found = route(&method, &sample_path(template));
                let mut names = shared.clone();
                names.extend(query_names(&operation["parameters"]));
                table.insert(found, names);
            }
        }
        table
    })
}

/// `400` for the first query parameter `route`'s operation does not document.
pub fn check(route: Route, query: &Query) -> Result<(), ApiError> {
    let Some(allowed) = table().get(&route) else {
        return Ok(());
    };
    match query
        .names()
        .find(|name| !allowed.iter().any(|a| a == name))
    {
        None => Ok(()),
        Some(unknown) if allowed.is_empty() => Err(ApiError::bad_request(format!(
            "unknown parameter {unknown:?}; this takes no parameters"
        ))),
        Some(unknown) => Err(ApiError::bad_request(format!(
            "unknown parameter {unknown:?}; this takes: {}",
            allowed.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_route_has_its_documented_parameters_and_nothing_else() {
        let search = &table()[&Route::Search];
        for name in ["q", "page", "per_page", "model_release", "property_release"] {
            assert!(search.iter().any(|n| n == name), "search takes {name}");
        }
        let query = |text: &str| {
            Query::from_pairs(
                form_urlencoded::parse(text.as_bytes())
                    .into_owned()
                    .collect(),
            )
        };
        assert!(check(Route::Search, &query("q=sea&model_release=true")).is_ok());
        let refused = check(Route::Search, &query("q=sea&modle_release=true"))
            .expect_err("a misspelt filter");
        assert!(
            refused.detail.contains("\"modle_release\""),
            "{}",
            refused.detail
        );
        assert!(check(Route::Health, &query("x=1")).is_err());
        // The console's forms are not API operations.
        assert!(check(Route::ConsoleSection, &query("action=reject&page=2")).is_ok());
        for route in Route::ALL {
            let api = *route != Route::Unknown && !route.name().starts_with("console");
            assert_eq!(table().contains_key(route), api, "{route:?}");
        }
    }

    /// Any operation may answer `400` (a parameter it does not take), so each documents it.
    #[test]
    fn every_operation_documents_its_400() {
        let document: serde_json::Value =
            serde_json::from_str(crate::api::OPENAPI).expect("the document");
        for (template, operations) in document["paths"].as_object().expect("paths") {
            for (method, operation) in operations.as_object().expect("operations") {
                if method == "parameters" {
                    continue;
                }
                assert!(
                    operation["responses"].get("400").is_some(),
                    "{method} {template} does not document 400"
                );
            }
        }
    }
}
