//! Account.

use super::fields::{address, area, lookup, of, owner, pick, text};
use crate::schema::{FieldType as T, ObjectDef};

/// The Account object.
pub(crate) fn object() -> ObjectDef {
    let mut account_fields = vec![
        text("Name", "Account Name", 255).required().name_field(),
        pick(
            "Type",
            "Account Type",
            &[
                "Prospect",
                "Customer - Direct",
                "Customer - Channel",
                "Channel Partner / Reseller",
                "Installation Partner",
                "Technology Partner",
                "Other",
            ],
            None,
        ),
        lookup("ParentId", "Parent Account ID", &["Account"], "Parent"),
        of("Phone", "Account Phone", T::Phone),
        of("Website", "Website", T::Url),
        pick(
            "Industry",
            "Industry",
            &[
                "Agriculture",
                "Apparel",
                "Banking",
                "Biotechnology",
                "Chemicals",
                "Communications",
                "Construction",
                "Consulting",
                "Education",
                "Electronics",
                "Energy",
                "Engineering",
                "Entertainment",
                "Environmental",
                "Finance",
                "Food & Beverage",
                "Government",
                "Healthcare",
                "Hospitality",
                "Insurance",
                "Machinery",
                "Manufacturing",
                "Media",
                "Not For Profit",
                "Recreation",
                "Retail",
                "Shipping",
                "Technology",
                "Telecommunications",
                "Transportation",
                "Utilities",
                "Other",
            ],
            None,
        ),
        of("AnnualRevenue", "Annual Revenue", T::Currency),
        of("NumberOfEmployees", "Employees", T::Int).precision(8, 0),
        area("Description", "Account Description", 32000),
        owner(&["User"]),
    ];
    account_fields.extend(address("Billing", "Billing"));
    account_fields.extend(address("Shipping", "Shipping"));
    ObjectDef::new("Account", "Account", "Accounts", "001", account_fields)
        .children(&[
            ("Contacts", "Contact", "AccountId", true),
            ("Cases", "Case", "AccountId", false),
            ("Opportunities", "Opportunity", "AccountId", true),
            ("ChildAccounts", "Account", "ParentId", false),
            ("Tasks", "Task", "WhatId", true),
            ("Feeds", "FeedItem", "ParentId", true),
            ("TopicAssignments", "TopicAssignment", "EntityId", true),
            ("ContentDocumentLinks", "ContentDocumentLink", "LinkedEntityId", true),
        ])
        .searchable()
}
