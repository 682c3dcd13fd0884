//! Conversions between the generated WIT types and the connector's own types
//! in [`crate::model`]. Mechanical by design: the shapes mirror each other.

use super::wit::casebridge::connector::{contacts as wc, describe as wd, org as wo, types as wt};
use super::wit::exports::casebridge::connector::sync as ws;
use crate::model as m;

macro_rules! mirror_enum {
    ($wit:ty, $model:ty, [$($variant:ident),* $(,)?]) => {
        impl From<$wit> for $model {
            fn from(value: $wit) -> Self {
                type W = $wit;
                type M = $model;
                match value { $(W::$variant => M::$variant),* }
            }
        }
        impl From<$model> for $wit {
            fn from(value: $model) -> Self {
                type W = $wit;
                type M = $model;
                match value { $(M::$variant => W::$variant),* }
            }
        }
    };
}

mirror_enum!(
    wt::FieldType,
    m::FieldType,
    [
        Id,
        Reference,
        String,
        Textarea,
        Email,
        Phone,
        Url,
        Picklist,
        Multipicklist,
        Combobox,
        Boolean,
        Int,
        Long,
        Double,
        Currency,
        Percent,
        Date,
        Datetime,
        Time,
        Base64,
        Encryptedstring,
        Address,
        Location,
        AnyType,
        Complexvalue,
        Datacategorygroupreference,
    ]
);
mirror_enum!(wt::AuthorRole, m::AuthorRole, [Customer, Agent, Teammate, System]);
mirror_enum!(wt::PartSource, m::PartSource, [CaseDescription, FeedItem, FeedComment, EmailMessage, CaseComment]);
mirror_enum!(wt::ResolutionState, m::ResolutionState, [None, SoftResolution, HardResolution, Abandoned, RoutedToTeam]);
mirror_enum!(wd::FieldKind, m::FieldKind, [System, Standard, Custom]);
mirror_enum!(wd::Direction, m::Direction, [ToPlatform, ToSalesforce]);
mirror_enum!(
    wc::MatchReason,
    m::MatchReason,
    [EmailExact, NameExact, LastNameExact, FirstNameExact, EmailConflict, TermFound]
);

/// Convert every element of a list.
pub fn all<A, B: From<A>>(items: Vec<A>) -> Vec<B> {
    items.into_iter().map(B::from).collect()
}

impl From<wt::WireValue> for m::WireValue {
    fn from(value: wt::WireValue) -> Self {
        match value {
            wt::WireValue::Null => m::WireValue::Null,
            wt::WireValue::Text(t) => m::WireValue::Text(t),
            wt::WireValue::Boolean(b) => m::WireValue::Boolean(b),
            wt::WireValue::Number(n) => m::WireValue::Number(n),
            wt::WireValue::Compound(c) => m::WireValue::Compound(c),
        }
    }
}

impl From<m::WireValue> for wt::WireValue {
    fn from(value: m::WireValue) -> Self {
        match value {
            m::WireValue::Null => wt::WireValue::Null,
            m::WireValue::Text(t) => wt::WireValue::Text(t),
            m::WireValue::Boolean(b) => wt::WireValue::Boolean(b),
            m::WireValue::Number(n) => wt::WireValue::Number(n),
            m::WireValue::Compound(c) => wt::WireValue::Compound(c),
        }
    }
}

impl From<wt::WireField> for m::WireField {
    fn from(f: wt::WireField) -> Self {
        m::WireField { name: f.name, value: f.value.into() }
    }
}

impl From<m::WireField> for wt::WireField {
    fn from(f: m::WireField) -> Self {
        wt::WireField { name: f.name, value: f.value.into() }
    }
}

impl From<wt::CalendarDate> for m::CalendarDate {
    fn from(d: wt::CalendarDate) -> Self {
        m::CalendarDate { year: d.year, month: d.month, day: d.day }
    }
}

impl From<m::CalendarDate> for wt::CalendarDate {
    fn from(d: m::CalendarDate) -> Self {
        wt::CalendarDate { year: d.year, month: d.month, day: d.day }
    }
}

impl From<wt::TimeOfDay> for m::TimeOfDay {
    fn from(t: wt::TimeOfDay) -> Self {
        m::TimeOfDay { hour: t.hour, minute: t.minute, second: t.second, millisecond: t.millisecond }
    }
}

impl From<m::TimeOfDay> for wt::TimeOfDay {
    fn from(t: m::TimeOfDay) -> Self {
        wt::TimeOfDay { hour: t.hour, minute: t.minute, second: t.second, millisecond: t.millisecond }
    }
}

impl From<wt::AttributeValue> for m::AttributeValue {
    fn from(value: wt::AttributeValue) -> Self {
        use wt::AttributeValue as W;
        match value {
            W::Null => m::AttributeValue::Null,
            W::Text(t) => m::AttributeValue::Text(t),
            W::Boolean(b) => m::AttributeValue::Boolean(b),
            W::Integer(i) => m::AttributeValue::Integer(i),
            W::Decimal(d) => m::AttributeValue::Decimal(d),
            W::Date(d) => m::AttributeValue::Date(d.into()),
            W::Datetime(ts) => m::AttributeValue::Datetime(ts),
            W::Time(t) => m::AttributeValue::Time(t.into()),
            W::List(l) => m::AttributeValue::List(l),
            W::Compound(c) => m::AttributeValue::Compound(c),
        }
    }
}

impl From<m::AttributeValue> for wt::AttributeValue {
    fn from(value: m::AttributeValue) -> Self {
        use m::AttributeValue as M;
        match value {
            M::Null => wt::AttributeValue::Null,
            M::Text(t) => wt::AttributeValue::Text(t),
            M::Boolean(b) => wt::AttributeValue::Boolean(b),
            M::Integer(i) => wt::AttributeValue::Integer(i),
            M::Decimal(d) => wt::AttributeValue::Decimal(d),
            M::Date(d) => wt::AttributeValue::Date(d.into()),
            M::Datetime(ts) => wt::AttributeValue::Datetime(ts),
            M::Time(t) => wt::AttributeValue::Time(t.into()),
            M::List(l) => wt::AttributeValue::List(l),
            M::Compound(c) => wt::AttributeValue::Compound(c),
        }
    }
}

impl From<wt::Attribute> for m::Attribute {
    fn from(a: wt::Attribute) -> Self {
        m::Attribute { name: a.name, value: a.value.into() }
    }
}

impl From<m::Attribute> for wt::Attribute {
    fn from(a: m::Attribute) -> Self {
        wt::Attribute { name: a.name, value: a.value.into() }
    }
}

impl From<m::Attachment> for wt::Attachment {
    fn from(a: m::Attachment) -> Self {
        wt::Attachment {
            name: a.name,
            content_type: a.content_type,
            size: a.size,
            content_path: a.content_path,
            inline: a.inline,
        }
    }
}

impl From<wt::Attachment> for m::Attachment {
    fn from(a: wt::Attachment) -> Self {
        m::Attachment {
            name: a.name,
            content_type: a.content_type,
            size: a.size,
            content_path: a.content_path,
            inline: a.inline,
        }
    }
}

impl From<wt::ConversationPart> for m::ConversationPart {
    fn from(p: wt::ConversationPart) -> Self {
        m::ConversationPart {
            id: p.id,
            source: p.source.into(),
            author: p.author.into(),
            author_name: p.author_name,
            text: p.text,
            created_at: p.created_at,
            attachments: all(p.attachments),
        }
    }
}

impl From<m::ConversationPart> for wt::ConversationPart {
    fn from(p: m::ConversationPart) -> Self {
        wt::ConversationPart {
            id: p.id,
            source: p.source.into(),
            author: p.author.into(),
            author_name: p.author_name,
            text: p.text,
            created_at: p.created_at,
            attachments: all(p.attachments),
        }
    }
}

impl From<m::Conversation> for wt::Conversation {
    fn from(c: m::Conversation) -> Self {
        use crate::platform::Channel;
        let (channel, platform_id) = match c.channel {
            Channel::SalesforceCase => (wt::Channel::SalesforceCase, None),
            Channel::Messenger => (wt::Channel::Messenger, Some(c.id.clone())),
            Channel::Email => (wt::Channel::Email, Some(c.id.clone())),
        };
        wt::Conversation {
            id: c.id,
            channel,
            platform_id,
            case_number: Some(c.case_number).filter(|n| !n.is_empty()),
            subject: c.subject,
            origin: c.origin,
            attributes: all(c.attributes),
            person: all(c.person),
            company: all(c.company),
            parts: all(c.parts),
            resolution: c.resolution.into(),
        }
    }
}

impl From<wt::Timeouts> for m::Timeouts {
    fn from(t: wt::Timeouts) -> Self {
        m::Timeouts { soft_resolution_after_ms: t.soft_resolution_after_ms, abandoned_after_ms: t.abandoned_after_ms }
    }
}

impl From<wd::PicklistEntry> for m::PicklistEntry {
    fn from(p: wd::PicklistEntry) -> Self {
        m::PicklistEntry { value: p.value, label: p.label, active: p.active, is_default: p.is_default }
    }
}

impl From<m::PicklistEntry> for wd::PicklistEntry {
    fn from(p: m::PicklistEntry) -> Self {
        wd::PicklistEntry { value: p.value, label: p.label, active: p.active, is_default: p.is_default }
    }
}

impl From<wd::FieldDescriptor> for m::FieldDescriptor {
    fn from(f: wd::FieldDescriptor) -> Self {
        m::FieldDescriptor {
            name: f.name,
            label: f.label,
            field_type: f.type_.into(),
            length: f.length,
            precision: f.precision,
            scale: f.scale,
            custom: f.custom,
            nillable: f.nillable,
            createable: f.createable,
            defaulted_on_create: f.defaulted_on_create,
            updateable: f.updateable,
            calculated: f.calculated,
            name_field: f.name_field,
            restricted_picklist: f.restricted_picklist,
            picklist_values: all(f.picklist_values),
            reference_to: f.reference_to,
            relationship_name: f.relationship_name,
        }
    }
}

impl From<m::FieldDescriptor> for wd::FieldDescriptor {
    fn from(f: m::FieldDescriptor) -> Self {
        wd::FieldDescriptor {
            name: f.name,
            label: f.label,
            type_: f.field_type.into(),
            length: f.length,
            precision: f.precision,
            scale: f.scale,
            custom: f.custom,
            nillable: f.nillable,
            createable: f.createable,
            defaulted_on_create: f.defaulted_on_create,
            updateable: f.updateable,
            calculated: f.calculated,
            name_field: f.name_field,
            restricted_picklist: f.restricted_picklist,
            picklist_values: all(f.picklist_values),
            reference_to: f.reference_to,
            relationship_name: f.relationship_name,
        }
    }
}

impl From<wd::CatalogField> for m::CatalogField {
    fn from(f: wd::CatalogField) -> Self {
        m::CatalogField { descriptor: f.descriptor.into(), kind: f.kind.into(), synced: f.synced }
    }
}

impl From<m::CatalogField> for wd::CatalogField {
    fn from(f: m::CatalogField) -> Self {
        wd::CatalogField { descriptor: f.descriptor.into(), kind: f.kind.into(), synced: f.synced }
    }
}

impl From<wd::ObjectCatalog> for m::ObjectCatalog {
    fn from(c: wd::ObjectCatalog) -> Self {
        m::ObjectCatalog { object: c.object, fields: all(c.fields) }
    }
}

impl From<m::ObjectCatalog> for wd::ObjectCatalog {
    fn from(c: m::ObjectCatalog) -> Self {
        wd::ObjectCatalog { object: c.object, fields: all(c.fields) }
    }
}

impl From<wd::DescribedObject> for m::DescribedObject {
    fn from(d: wd::DescribedObject) -> Self {
        m::DescribedObject { object: d.object, fields: all(d.fields) }
    }
}

impl From<m::DescribedObject> for wd::DescribedObject {
    fn from(d: m::DescribedObject) -> Self {
        wd::DescribedObject { object: d.object, fields: all(d.fields) }
    }
}

impl From<wd::FieldMapping> for m::FieldMapping {
    fn from(f: wd::FieldMapping) -> Self {
        m::FieldMapping { object: f.object, field: f.field, attribute: f.attribute, direction: f.direction.into() }
    }
}

impl From<m::FieldMapping> for wd::FieldMapping {
    fn from(f: m::FieldMapping) -> Self {
        wd::FieldMapping { object: f.object, field: f.field, attribute: f.attribute, direction: f.direction.into() }
    }
}

impl From<wc::Customer> for m::Customer {
    fn from(c: wc::Customer) -> Self {
        m::Customer {
            id: c.id,
            first_name: c.first_name,
            last_name: c.last_name,
            email: c.email,
            username: c.username,
            handle: c.handle,
            phone: c.phone,
        }
    }
}

impl From<wc::Candidate> for m::Candidate {
    fn from(c: wc::Candidate) -> Self {
        m::Candidate {
            id: c.id,
            first_name: c.first_name,
            last_name: c.last_name,
            email: c.email,
            account_id: c.account_id,
        }
    }
}

impl From<m::Candidate> for wc::Candidate {
    fn from(c: m::Candidate) -> Self {
        wc::Candidate {
            id: c.id,
            first_name: c.first_name,
            last_name: c.last_name,
            email: c.email,
            account_id: c.account_id,
        }
    }
}

impl From<m::RankedCandidate> for wc::RankedCandidate {
    fn from(r: m::RankedCandidate) -> Self {
        wc::RankedCandidate { candidate: r.candidate.into(), score: r.score, reasons: all(r.reasons) }
    }
}

impl From<m::Outcome> for wc::Outcome {
    fn from(o: m::Outcome) -> Self {
        match o {
            m::Outcome::Link(r) => wc::Outcome::Link(r.into()),
            m::Outcome::Suggest(rs) => wc::Outcome::Suggest(all(rs)),
            m::Outcome::Create(fields) => wc::Outcome::Create(all(fields)),
        }
    }
}

impl From<crate::cycle::SyncError> for wo::SyncError {
    fn from(error: crate::cycle::SyncError) -> Self {
        use crate::cycle::SyncError as E;
        match error {
            E::Unsupported(what) => wo::SyncError::Unsupported(what),
            E::InvalidConfig(why) => wo::SyncError::InvalidConfig(why),
            E::ReconnectRequired(why) => wo::SyncError::ReconnectRequired(why),
            E::ApiLimit { used, max } => wo::SyncError::ApiLimit(wo::ApiLimit {
                kind: wo::LimitKind::OrgLimit,
                usage: wo::ApiUsage { used, max },
                resets_at: None,
            }),
            E::BudgetReached { used, max } => budget_reached(used, max),
            E::BudgetExhausted => budget_reached(0, 0),
            E::Salesforce(api) => wo::SyncError::Salesforce(wo::ApiError {
                status: api.status,
                code: api.code,
                message: api.message,
                fields: api.fields,
            }),
            E::Transport(why) => wo::SyncError::Transport(why),
            E::MalformedResponse(why) => wo::SyncError::MalformedResponse(why),
            E::Storage(why) => wo::SyncError::Storage(why),
            E::Host(why) => wo::SyncError::Host(why),
        }
    }
}

/// The budget is per UTC day: it resets at the next midnight.
fn budget_reached(used: u32, max: u32) -> wo::SyncError {
    use crate::capabilities::Capabilities as _;
    const DAY_MS: i64 = 24 * 60 * 60 * 1000;
    let now = super::host::HostCapabilities.now();
    wo::SyncError::ApiLimit(wo::ApiLimit {
        kind: wo::LimitKind::Budget,
        usage: wo::ApiUsage { used, max },
        resets_at: Some((now.div_euclid(DAY_MS) + 1) * DAY_MS),
    })
}

impl From<crate::cycle::state::StoredError> for ws::RecordError {
    fn from(e: crate::cycle::state::StoredError) -> Self {
        ws::RecordError {
            id: e.id,
            record_id: e.record_id,
            operation: e.operation,
            reason: wo::ApiError { status: e.status, code: e.code, message: e.message, fields: e.fields },
            failed_at: e.failed_at,
        }
    }
}

// --- the platform's records ---------------------------------------------------

use super::wit::casebridge::connector::platform as wp;
use crate::platform as p;

mirror_enum!(wp::AttributeKind, p::AttributeKind, [Standard, Custom, Location]);
mirror_enum!(wp::ValueType, p::ValueType, [Text, Boolean, Integer, Decimal, Date, Datetime, Time, List, Compound]);
mirror_enum!(wp::RecordKind, p::RecordKind, [Person, Company, Conversation]);
mirror_enum!(wp::PersonRole, p::PersonRole, [User, Lead]);
mirror_enum!(wp::LinkedObject, p::LinkedObject, [Contact, Lead]);
mirror_enum!(wp::ConversationState, p::ConversationState, [Open, Snoozed, Closed]);
mirror_enum!(wt::Channel, p::Channel, [SalesforceCase, Messenger, Email]);

impl From<wp::AttributeDefinition> for p::AttributeDefinition {
    fn from(d: wp::AttributeDefinition) -> Self {
        p::AttributeDefinition {
            entity: d.entity.into(),
            name: d.name,
            kind: d.kind.into(),
            value_type: d.value_type.into(),
            options: d.options,
        }
    }
}

impl From<wp::PlatformAttribute> for p::PlatformAttribute {
    fn from(a: wp::PlatformAttribute) -> Self {
        p::PlatformAttribute { name: a.name, kind: a.kind.into(), value: a.value.into() }
    }
}

impl From<p::PlatformAttribute> for wp::PlatformAttribute {
    fn from(a: p::PlatformAttribute) -> Self {
        wp::PlatformAttribute { name: a.name, kind: a.kind.into(), value: a.value.into() }
    }
}

impl From<wp::SalesforceLink> for p::SalesforceLink {
    fn from(l: wp::SalesforceLink) -> Self {
        p::SalesforceLink { object: l.object.into(), id: l.id }
    }
}

impl From<p::SalesforceLink> for wp::SalesforceLink {
    fn from(l: p::SalesforceLink) -> Self {
        wp::SalesforceLink { object: l.object.into(), id: l.id }
    }
}

impl From<wp::Person> for p::Person {
    fn from(x: wp::Person) -> Self {
        p::Person {
            id: x.id,
            role: x.role.into(),
            name: x.name,
            email: x.email,
            company_id: x.company_id,
            owner_id: x.owner_id,
            attributes: all(x.attributes),
            salesforce: x.salesforce.map(Into::into),
            updated_at: x.updated_at,
        }
    }
}

impl From<wp::Company> for p::Company {
    fn from(x: wp::Company) -> Self {
        p::Company {
            id: x.id,
            name: x.name,
            attributes: all(x.attributes),
            account_id: x.account_id,
            updated_at: x.updated_at,
        }
    }
}

impl From<wp::ChangePage> for p::ChangePage {
    fn from(page: wp::ChangePage) -> Self {
        p::ChangePage {
            changes: page
                .changes
                .into_iter()
                .map(|c| p::Change {
                    kind: c.kind.into(),
                    id: c.id,
                    by_connector: c.by_connector,
                    changed_at: c.changed_at,
                })
                .collect(),
            cursor: page.cursor,
            more: page.more,
        }
    }
}

impl From<wp::PlatformConversation> for p::PlatformConversation {
    fn from(c: wp::PlatformConversation) -> Self {
        p::PlatformConversation {
            id: c.id,
            channel: c.channel.into(),
            state: c.state.into(),
            person_id: c.person_id,
            assignee_id: c.assignee_id,
            subject: c.subject,
            tags: c.tags,
            attributes: all(c.attributes),
            parts: all(c.parts),
            notes: c
                .notes
                .into_iter()
                .map(|n| p::Note { id: n.id, author_id: n.author_id, text: n.text, created_at: n.created_at })
                .collect(),
            case_id: c.case_id,
            updated_at: c.updated_at,
        }
    }
}

impl From<&p::CaseConversation> for wp::CaseConversation {
    fn from(c: &p::CaseConversation) -> Self {
        wp::CaseConversation {
            case_id: c.case_id.clone(),
            subject: c.subject.clone(),
            state: c.state.into(),
            person_id: c.person_id.clone(),
            attributes: all(c.attributes.clone()),
            parts: all(c.parts.clone()),
        }
    }
}

impl From<wp::PlatformError> for p::PlatformFailure {
    fn from(e: wp::PlatformError) -> Self {
        match e {
            wp::PlatformError::NotFound(what) => p::PlatformFailure::NotFound(what),
            wp::PlatformError::Invalid(why) => p::PlatformFailure::Invalid(why),
            wp::PlatformError::Unavailable(why) => p::PlatformFailure::Unavailable(why),
        }
    }
}

/// A workflow from `settings.channel-workflow`.
pub fn workflow(w: super::wit::casebridge::connector::settings::Workflow) -> crate::workflow::Workflow {
    use super::wit::casebridge::connector::settings as s;
    use crate::workflow as wf;
    let test = |t: s::Test| match t {
        s::Test::Equals(v) => wf::Test::Equals(v),
        s::Test::OneOf(v) => wf::Test::OneOf(v),
        s::Test::Contains(v) => wf::Test::Contains(v),
        s::Test::IsEmpty => wf::Test::IsEmpty,
        s::Test::IsNotEmpty => wf::Test::IsNotEmpty,
        s::Test::LessThan(x) => wf::Test::LessThan(x),
        s::Test::GreaterThan(x) => wf::Test::GreaterThan(x),
        s::Test::Before(d) => wf::Test::Before(d.into()),
        s::Test::After(d) => wf::Test::After(d.into()),
    };
    let condition = |c: s::Condition| wf::Condition {
        owner: match c.owner {
            s::AttributeOwner::Person => wf::Owner::Person,
            s::AttributeOwner::Company => wf::Owner::Company,
            s::AttributeOwner::Conversation => wf::Owner::Conversation,
        },
        attribute: c.attribute,
        test: test(c.test),
    };
    let action = |a: s::StepAction| match a {
        s::StepAction::Branch(b) => wf::Action::Branch(wf::Branch {
            rules: b
                .rules
                .into_iter()
                .map(|r| wf::Rule { all: r.all.into_iter().map(condition).collect(), goto: r.goto })
                .collect(),
            otherwise: b.otherwise,
        }),
        s::StepAction::SetData(d) => wf::Action::SetData { field: d.field, value: d.value },
        s::StepAction::CollectData(d) => {
            wf::Action::CollectData { field: d.field, question: d.question, tries: d.tries }
        }
        s::StepAction::DetectAttributes(fields) => wf::Action::DetectAttributes(fields),
        s::StepAction::LetAgentAnswer => wf::Action::LetAgentAnswer,
        s::StepAction::HandOffToTeam(s::HandOffTarget::Queue(id)) => {
            wf::Action::HandOffToTeam(m::HandOffTarget::Queue(id))
        }
        s::StepAction::HandOffToTeam(s::HandOffTarget::User(id)) => {
            wf::Action::HandOffToTeam(m::HandOffTarget::User(id))
        }
        s::StepAction::HandOffToSalesforceAgent => wf::Action::HandOffToSalesforceAgent,
    };
    wf::Workflow {
        channel: w.channel.into(),
        steps: w.steps.into_iter().map(|st| wf::Step { id: st.id, action: action(st.action), next: st.next }).collect(),
    }
}
