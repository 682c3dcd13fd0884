//! The describe JSON (`/sobjects`, `/sobjects/{name}/describe`) built from the schema.

use serde_json::{Value as Json, json};

use super::{FieldDef, FieldType, ObjectAccess, ObjectDef, Schema};

/// `/services/data/vXX.X` for an API version given as `59.0` or `v59.0`.
pub fn data_path(api_version: &str) -> String {
    format!("/services/data/v{}", api_version.trim_start_matches(['v', 'V']))
}

/// The describe of one sObject (`GET /sobjects/{name}/describe`), as a
/// user with every permission on it sees it.
pub fn describe_object(obj: &ObjectDef, api_version: &str) -> Json {
    describe_object_for(obj, api_version, ObjectAccess::ALL)
}

/// The describe of one sObject as a user with `access` sees it: without
/// Create, the object and every field are not `createable`; without Edit,
/// not `updateable`; without Delete, not `deletable`; without Read, not
/// `queryable` (the server answers such a user as if the object did not exist).
pub fn describe_object_for(obj: &ObjectDef, api_version: &str, access: ObjectAccess) -> Json {
    let base = format!("{}/sobjects/{}", data_path(api_version), obj.name);
    let fields: Vec<Json> = obj.fields.iter().map(|f| describe_field(obj, f, access)).collect();
    let children: Vec<Json> = obj
        .child_relationships
        .iter()
        .map(|c| {
            json!({
                "cascadeDelete": c.cascade_delete,
                "childSObject": c.child_sobject,
                "deprecatedAndHidden": false,
                "field": c.field,
                "junctionIdListNames": [],
                "junctionReferenceTo": [],
                "relationshipName": c.relationship_name,
                "restrictedDelete": false,
            })
        })
        .collect();
    let record_types: Vec<Json> = obj
        .record_types
        .iter()
        .map(|rt| {
            json!({
                "active": rt.active,
                "available": rt.available,
                "defaultRecordTypeMapping": rt.default_record_type_mapping,
                "developerName": rt.developer_name,
                "master": rt.master,
                "name": rt.name,
                "recordTypeId": rt.record_type_id,
                "urls": {"layout": format!("{base}/describe/layouts/{}", rt.record_type_id)},
            })
        })
        .collect();
    let mut out = global_entry(obj, api_version, access);
    let map = out.as_object_mut().expect("object");
    map.insert("fields".into(), Json::Array(fields));
    map.insert("childRelationships".into(), Json::Array(children));
    map.insert("recordTypeInfos".into(), Json::Array(record_types));
    map.insert("actionOverrides".into(), json!([]));
    map.insert("namedLayoutInfos".into(), json!([]));
    map.insert("networkScopeFieldName".into(), Json::Null);
    map.insert("sobjectDescribeOption".into(), json!("FULL"));
    map.insert("supportedScopes".into(), json!([{"label": "All", "name": "everything"}]));
    out
}

/// The describe of every sObject (`GET /sobjects`).
pub fn describe_global(schema: &Schema, api_version: &str) -> Json {
    describe_global_for(schema, api_version, &|_| ObjectAccess::ALL)
}

/// The describe of every sObject a user may read, each as `access` says
/// the user may use it.
pub fn describe_global_for(schema: &Schema, api_version: &str, access: &dyn Fn(&str) -> ObjectAccess) -> Json {
    let sobjects: Vec<Json> = schema
        .objects()
        .filter_map(|o| Some((o, access(&o.name))).filter(|(_, a)| a.read))
        .map(|(o, a)| global_entry(o, api_version, a))
        .collect();
    json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects})
}

/// The object-level properties shared by describe and describe-global.
pub(crate) fn global_entry(obj: &ObjectDef, api_version: &str, access: ObjectAccess) -> Json {
    let base = format!("{}/sobjects/{}", data_path(api_version), obj.name);
    json!({
        "activateable": false,
        "associateEntityType": null,
        "associateParentEntity": null,
        "createable": obj.createable && access.create,
        "custom": obj.custom,
        "customSetting": false,
        "deepCloneable": false,
        "deletable": obj.deletable && access.delete,
        "deprecatedAndHidden": false,
        "feedEnabled": matches!(obj.name.as_str(), "Case" | "Account" | "Contact" | "Lead" | "Opportunity" | "User"),
        "hasSubtypes": false,
        "isInterface": false,
        "isSubtype": false,
        "keyPrefix": obj.key_prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": true,
        "mergeable": matches!(obj.name.as_str(), "Account" | "Contact" | "Lead" | "Case"),
        "mruEnabled": true,
        "name": obj.name,
        "queryable": access.read,
        "replicateable": true,
        "retrieveable": access.read,
        "searchable": obj.searchable && access.read,
        "triggerable": true,
        "undeletable": obj.deletable && access.delete,
        "updateable": obj.updateable && access.edit,
        "urls": {
            "compactLayouts": format!("{base}/describe/compactLayouts"),
            "rowTemplate": format!("{base}/{{ID}}"),
            "approvalLayouts": format!("{base}/describe/approvalLayouts"),
            "defaultValues": format!("{base}/defaultValues?recordTypeId&fields"),
            "listviews": format!("{base}/listviews"),
            "describe": format!("{base}/describe"),
            "quickActions": format!("{base}/quickActions"),
            "layouts": format!("{base}/describe/layouts"),
            "sobject": base,
        },
    })
}

fn describe_field(obj: &ObjectDef, f: &FieldDef, access: ObjectAccess) -> Json {
    let t = f.field_type;
    let picklist: Vec<Json> = f
        .picklist_values
        .iter()
        .map(|p| json!({"active": p.active, "defaultValue": p.default_value, "label": p.label, "validFor": null, "value": p.value}))
        .collect();
    let digits = if matches!(t, FieldType::Int) { f.precision } else { 0 };
    let (precision, scale) = if matches!(t, FieldType::Double | FieldType::Currency | FieldType::Percent) {
        (f.precision, f.scale)
    } else {
        (0, 0)
    };
    let mut out = json!({
        "aggregatable": f.groupable() || t.is_number(),
        "aiPredictionField": false,
        "autoNumber": f.auto_number,
        "byteLength": f.byte_length(),
        "calculated": f.calculated,
        "calculatedFormula": null,
        "cascadeDelete": false,
        "caseSensitive": false,
        "compoundFieldName": compound_field_name(obj, f),
        "controllerName": null,
        "createable": f.createable && access.create,
        "custom": f.custom,
        "defaultValue": f.default_value.clone().unwrap_or(Json::Null),
        "defaultValueFormula": null,
        "defaultedOnCreate": f.defaulted_on_create,
        "dependentPicklist": false,
        "deprecatedAndHidden": false,
        "digits": digits,
        "displayLocationInDecimal": false,
        "encrypted": false,
        "externalId": f.external_id,
        "extraTypeInfo": extra_type_info(f),
        "filterable": f.filterable(),
        "filteredLookupInfo": null,
        "formulaTreatNullNumberAsZero": false,
        "groupable": f.groupable(),
        "highScaleNumber": false,
        "htmlFormatted": f.name == "HtmlBody",
        "idLookup": t == FieldType::Id || f.external_id || (f.unique && t.is_text()),
        "inlineHelpText": null,
    });
    let rest = json!({
        "label": f.label,
        "length": if t.is_text() || t.is_id() { f.length } else { 0 },
        "mask": null,
        "maskType": null,
        "name": f.name,
        "nameField": f.name_field,
        "namePointing": f.is_polymorphic(),
        "nillable": f.nillable,
        "permissionable": f.nillable && !f.calculated && f.createable,
        "picklistValues": picklist,
        "polymorphicForeignKey": f.is_polymorphic(),
        "precision": precision,
        "queryByDistance": false,
        "referenceTargetField": null,
        "referenceTo": f.reference_to,
        "relationshipName": f.relationship_name,
        "relationshipOrder": null,
        "restrictedDelete": false,
        "restrictedPicklist": f.restricted_picklist,
        "scale": scale,
        "searchPrefilterable": t == FieldType::Reference,
        "soapType": t.soap_type(),
        "sortable": f.sortable(),
        "type": t.as_str(),
        "unique": f.unique,
        "updateable": f.updateable && access.edit,
        "writeRequiresMasterRead": false,
    });
    if let (Some(out), Json::Object(rest)) = (out.as_object_mut(), rest) {
        out.extend(rest);
    }
    out
}

/// The compound field a component belongs to: `Name` for the parts of a
/// person's name, `BillingAddress` for `BillingCity`, …
fn compound_field_name(obj: &ObjectDef, f: &FieldDef) -> Option<String> {
    let has_compound_name = obj.field("FirstName").is_some() && obj.field("Name").is_some();
    if has_compound_name && matches!(f.name.as_str(), "FirstName" | "LastName" | "Salutation") {
        return Some("Name".into());
    }
    obj.fields
        .iter()
        .filter(|a| a.field_type == FieldType::Address)
        .find(|a| address_components(&a.name).iter().any(|(_, c)| *c == f.name))
        .map(|a| a.name.clone())
}

/// The component fields of an address compound field, with the key each has
/// in the rendered address object: `BillingAddress` → `("city", "BillingCity")`, …
pub fn address_components(address_field: &str) -> Vec<(&'static str, String)> {
    let prefix = address_field.strip_suffix("Address").unwrap_or("");
    [
        ("city", "City"),
        ("country", "Country"),
        ("geocodeAccuracy", "GeocodeAccuracy"),
        ("latitude", "Latitude"),
        ("longitude", "Longitude"),
        ("postalCode", "PostalCode"),
        ("state", "State"),
        ("street", "Street"),
    ]
    .into_iter()
    .map(|(key, suffix)| (key, format!("{prefix}{suffix}")))
    .collect()
}

fn extra_type_info(f: &FieldDef) -> Option<&'static str> {
    match f.field_type {
        FieldType::Textarea if f.name == "HtmlBody" => Some("richtextarea"),
        FieldType::Textarea => Some("plaintextarea"),
        FieldType::String if f.name == "Name" => Some("personname"),
        _ => None,
    }
}
