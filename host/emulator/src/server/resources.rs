//! Which REST resource a path names, which methods it takes, and the key its
//! calls are counted under.

use axum::http::Method;

use crate::error::SfError;
use crate::schema::Schema;

/// A resource under `/services/data/vXX.X/`. Object names are canonical
/// (`Case` even when the URL said `case`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resource {
    /// `/` — the map of resources.
    Resources,
    Limits,
    /// `/query` or `/queryAll`, optionally with a locator to follow (`/query/01g…-2000`).
    Query {
        include_deleted: bool,
        locator: Option<String>,
    },
    Search,
    ParameterizedSearch,
    /// `/sobjects` — describe global.
    SObjects,
    /// `/sobjects/{object}` — basic info (GET) and create (POST).
    SObject {
        object: String,
    },
    Describe {
        object: String,
    },
    Updated {
        object: String,
    },
    Deleted {
        object: String,
    },
    Record {
        object: String,
        id: String,
    },
    /// `/sobjects/{object}/{id}/{field}` — the bytes of a base64 field.
    Blob {
        object: String,
        id: String,
        field: String,
    },
    Composite,
    /// `/composite/sobjects` (POST, PATCH, DELETE) or `/composite/sobjects/{object}` (GET, POST: read many).
    Collection {
        object: Option<String>,
    },
    CompositeBatch,
}

impl Resource {
    /// Finds the resource for a method and path, or NOT_FOUND (404) /
    /// METHOD_NOT_ALLOWED (405) as Salesforce answers them.
    pub(crate) fn route(method: &Method, path: &[String], schema: &Schema) -> Result<Resource, SfError> {
        let object =
            |name: &str| schema.object(name).map(|o| o.name.clone()).ok_or_else(|| SfError::unknown_sobject(name));
        let segments: Vec<&str> = path.iter().map(String::as_str).collect();
        let resource = match segments.as_slice() {
            [] => Resource::Resources,
            ["limits"] => Resource::Limits,
            ["query"] => Resource::Query { include_deleted: false, locator: None },
            ["queryAll"] => Resource::Query { include_deleted: true, locator: None },
            ["query", locator] => Resource::Query { include_deleted: false, locator: Some(locator.to_string()) },
            ["queryAll", locator] => Resource::Query { include_deleted: true, locator: Some(locator.to_string()) },
            ["search"] => Resource::Search,
            ["parameterizedSearch"] => Resource::ParameterizedSearch,
            ["sobjects"] => Resource::SObjects,
            ["sobjects", name] => Resource::SObject { object: object(name)? },
            ["sobjects", name, "describe"] => Resource::Describe { object: object(name)? },
            ["sobjects", name, "updated"] => Resource::Updated { object: object(name)? },
            ["sobjects", name, "deleted"] => Resource::Deleted { object: object(name)? },
            ["sobjects", name, id] => Resource::Record { object: object(name)?, id: id.to_string() },
            ["sobjects", _, "describe", ..] => return Err(SfError::not_found()),
            ["sobjects", name, id, field] => {
                Resource::Blob { object: object(name)?, id: id.to_string(), field: field.to_string() }
            }
            ["composite"] => Resource::Composite,
            ["composite", "sobjects"] => Resource::Collection { object: None },
            ["composite", "sobjects", name] => Resource::Collection { object: Some(object(name)?) },
            ["composite", "batch"] => Resource::CompositeBatch,
            _ => return Err(SfError::not_found()),
        };
        let allowed = resource.methods();
        let asked = if method == Method::HEAD { &Method::GET } else { method };
        if !allowed.contains(asked) {
            let mut names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
            if allowed.contains(&Method::GET) {
                names.insert(0, "HEAD");
            }
            return Err(SfError::new(
                405,
                "METHOD_NOT_ALLOWED",
                format!("HTTP Method '{method}' not allowed. Allowed are {}", names.join(",")),
            ));
        }
        Ok(resource)
    }

    fn methods(&self) -> &'static [Method] {
        match self {
            Resource::SObject { .. } => &[Method::GET, Method::POST],
            Resource::Record { .. } => &[Method::GET, Method::PATCH, Method::DELETE],
            Resource::Composite | Resource::CompositeBatch => &[Method::POST],
            Resource::Collection { object: None } => &[Method::POST, Method::PATCH, Method::DELETE],
            // POST reads many records too, with the ids in the body (for long id lists).
            Resource::Collection { object: Some(_) } => &[Method::GET, Method::POST],
            _ => &[Method::GET],
        }
    }

    /// The path part of the counter key: ids and locators left out, so all
    /// calls to one kind of endpoint add up (`/sobjects/Case`, `/query`).
    fn endpoint(&self) -> String {
        match self {
            Resource::Resources => "/".into(),
            Resource::Limits => "/limits".into(),
            Resource::Query { include_deleted: false, .. } => "/query".into(),
            Resource::Query { include_deleted: true, .. } => "/queryAll".into(),
            Resource::Search => "/search".into(),
            Resource::ParameterizedSearch => "/parameterizedSearch".into(),
            Resource::SObjects => "/sobjects".into(),
            Resource::SObject { object } | Resource::Record { object, .. } => {
                format!("/sobjects/{object}")
            }
            Resource::Describe { object } => format!("/sobjects/{object}/describe"),
            Resource::Updated { object } => format!("/sobjects/{object}/updated"),
            Resource::Deleted { object } => format!("/sobjects/{object}/deleted"),
            Resource::Blob { object, field, .. } => format!("/sobjects/{object}/{field}"),
            Resource::Composite => "/composite".into(),
            Resource::Collection { object: None } => "/composite/sobjects".into(),
            Resource::Collection { object: Some(object) } => format!("/composite/sobjects/{object}"),
            Resource::CompositeBatch => "/composite/batch".into(),
        }
    }

    /// The key this call is counted under: `"GET /query"`, `"PATCH /sobjects/Case"`.
    pub(crate) fn counter_key(&self, method: &Method) -> String {
        format!("{method} {}", self.endpoint())
    }

    /// Whether the request itself is one API call. A composite batch is not:
    /// each of its subrequests is.
    pub(crate) fn counts_as_call(&self) -> bool {
        !matches!(self, Resource::CompositeBatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str) -> Result<Resource, SfError> {
        let path: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect();
        Resource::route(&method, &path, &Schema::standard())
    }

    #[test]
    fn paths_map_to_resources_with_canonical_object_names() {
        assert_eq!(
            route(Method::PATCH, "sobjects/case/500x").unwrap(),
            Resource::Record { object: "Case".into(), id: "500x".into() }
        );
        assert_eq!(
            route(Method::GET, "query/01gXX-2000").unwrap(),
            Resource::Query { include_deleted: false, locator: Some("01gXX-2000".into()) }
        );
        assert_eq!(
            route(Method::GET, "sobjects/Case/describe").unwrap().counter_key(&Method::GET),
            "GET /sobjects/Case/describe"
        );
        assert_eq!(
            route(Method::DELETE, "sobjects/Case/500x").unwrap().counter_key(&Method::DELETE),
            "DELETE /sobjects/Case"
        );
    }

    #[test]
    fn unknown_paths_objects_and_methods_are_refused_like_salesforce() {
        assert_eq!(route(Method::GET, "nope").unwrap_err().status, 404);
        assert_eq!(route(Method::GET, "sobjects/Nope__c").unwrap_err().error_code, "NOT_FOUND");
        let e = route(Method::PUT, "sobjects/Case/500x").unwrap_err();
        assert_eq!((e.status, e.error_code.as_str()), (405, "METHOD_NOT_ALLOWED"));
        assert_eq!(e.message, "HTTP Method 'PUT' not allowed. Allowed are HEAD,GET,PATCH,DELETE");
    }
}
