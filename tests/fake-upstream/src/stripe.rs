//! Fake Stripe API (`/stripe/v1/...`).
//!
//! What it does the way Stripe does:
//! - Auth: a secret key as `Authorization: Bearer <key>` (or as the Basic user name); a missing or
//!   unknown key answers 401 with Stripe's `invalid_request_error` body and a masked key.
//! - Lists: `{"object": "list", "data", "has_more", "url"}`, newest first, `limit` 1-100 (default
//!   10), `starting_after` / `ending_before` naming an object id (excluded from the page), the
//!   documented filters (equality, booleans, `created[gte]`-style ranges), and
//!   `parameter_unknown` for anything else. Subscriptions hide canceled ones unless asked.
//! - Search: `{"object": "search_result", "data", "has_more", "next_page", "url"}` paged with an
//!   opaque `page` token, over a subset of Stripe's query language: `field:value` (exact, case
//!   insensitive), `field~value` (substring, 3+ characters), `> >= < <=` on numbers,
//!   `metadata['key']:value`, `-` negation, `null`, and clauses joined by spaces, `AND` or `OR`
//!   (not both).
//! - Writes: form bodies (`metadata[k]=v`, `items[0][price]=p`) checked against each endpoint's
//!   parameters (unknown, missing, badly typed or out-of-enum values answer 400 like Stripe), then
//!   applied to the in-memory data: creates, updates (metadata merged key by key), deletes,
//!   invoice finalize/send, PaymentIntent confirm/cancel (with their state rules), refunds
//!   (bounded by what is left on the charge), payment method attach.
//! - Errors: `{"error": {"type", "code", "message", "param", "doc_url"}}`; an unknown id in the
//!   path is 404 `resource_missing`, an unknown id in a parameter is 400 `resource_missing`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::{basic, bearer, creds, form_pairs, lock, Shared};

// ------------------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------------------

/// A Stripe error answer.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    code: Option<&'static str>,
    message: String,
    param: Option<String>,
}

impl ApiError {
    /// 400 `invalid_request_error` without a code.
    fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: None,
            message: message.into(),
            param: param.map(str::to_string),
        }
    }

    /// 400 `invalid_request_error` with a code.
    fn coded(code: &'static str, message: impl Into<String>, param: Option<&str>) -> Self {
        Self { code: Some(code), ..Self::invalid(message, param) }
    }

    /// 404 for an unknown id in the path.
    fn not_found(kind: Kind, id: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            ..Self::coded("resource_missing", format!("No such {}: '{id}'", kind.noun()), Some("id"))
        }
    }

    /// 400 for an unknown id given as a parameter.
    fn missing_ref(kind: Kind, id: &str, param: &str) -> Self {
        Self::coded("resource_missing", format!("No such {}: '{id}'", kind.noun()), Some(param))
    }

    fn parameter_missing(param: &str) -> Self {
        Self::coded("parameter_missing", format!("Missing required param: {param}."), Some(param))
    }

    fn parameter_unknown(param: &str) -> Self {
        Self::coded("parameter_unknown", format!("Received unknown parameter: {param}"), Some(param))
    }

    /// 401 with Stripe's wording for a missing or wrong key.
    fn unauthorized(message: String) -> Self {
        Self { status: StatusCode::UNAUTHORIZED, ..Self::invalid(message, None) }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = Map::new();
        error.insert("type".into(), json!(self.kind));
        if let Some(code) = self.code {
            error.insert("code".into(), json!(code));
            error.insert(
                "doc_url".into(),
                json!(format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-"))),
            );
        }
        error.insert("message".into(), json!(self.message));
        if let Some(param) = self.param {
            error.insert("param".into(), json!(param));
        }
        let mut resp = (self.status, Json(json!({ "error": error }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert("www-authenticate", HeaderValue::from_static("Basic realm=\"Stripe\""));
        }
        resp
    }
}

type Reply = Result<Json<Value>, ApiError>;

// ------------------------------------------------------------------------------------------------
// Auth
// ------------------------------------------------------------------------------------------------

/// Extractor that only succeeds for a request carrying a valid API key.
struct Authed;

impl FromRequestParts<Shared> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        check_key(state, &parts.headers).map(|()| Authed)
    }
}

/// Stripe takes the key as a bearer token or as the user name of Basic auth.
fn check_key(state: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    let key = bearer(headers).or_else(|| basic(headers).map(|(user, _)| user));
    match key {
        None => Err(ApiError::unauthorized(
            "You did not provide an API key. You need to provide your API key in the Authorization \
             header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See \
             https://stripe.com/docs/api#authentication for details, or we can help at \
             https://support.stripe.com/."
                .into(),
        )),
        Some(k) if k == creds::STRIPE_KEY || state.oauth_access_valid("stripe", &k) => Ok(()),
        Some(k) => Err(ApiError::unauthorized(format!("Invalid API Key provided: {}", mask_key(&k)))),
    }
}

/// Masks a key the way Stripe echoes it: its `sk_test_` style prefix and last 4 characters.
fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let prefix = match key.match_indices('_').nth(1) {
        Some((i, _)) => key[..=i].chars().count(),
        None => 0,
    };
    if chars.len() <= prefix + 4 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..prefix].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - prefix - 4))
}

// ------------------------------------------------------------------------------------------------
// Resources
// ------------------------------------------------------------------------------------------------

/// The kinds of objects the fake stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Customer,
    Invoice,
    Charge,
    Subscription,
    Refund,
    Product,
    Price,
    BalanceTransaction,
    PaymentIntent,
    CheckoutSession,
    PaymentMethod,
    Dispute,
    Payout,
}

/// How a list query parameter filters records.
#[derive(Debug, Clone, Copy)]
enum Filter {
    /// Equality with the string at a dotted path.
    Eq(&'static str),
    /// Equality with the string at a path, the value being one of the listed ones.
    OneOf(&'static str, &'static [&'static str]),
    /// `true` / `false` against a boolean at a path.
    Bool(&'static str),
    /// `name[sub]=true|false` against a boolean at a path.
    Flag(&'static str, &'static str),
    /// `name[gt|gte|lt|lte]=ts` (or `name=ts`) against an integer at a path.
    Range(&'static str),
    /// `name[]=a&name[]=b` (or `name[0]=a`): the string at a path is one of them.
    AnyOf(&'static str),
    /// Subscription status, with `all` and `ended`; canceled ones are hidden by default.
    SubscriptionStatus,
    /// Subscriptions having an item with this price.
    SubscriptionPrice,
    /// Balance transactions paid out by this payout.
    Payout,
}

const COLLECTION_METHODS: &[&str] = &["charge_automatically", "send_invoice"];
const SUBSCRIPTION_STATUSES: &[&str] = &[
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
];

impl Kind {
    /// The object's `object` value.
    fn object(self) -> &'static str {
        match self {
            Kind::Customer => "customer",
            Kind::Invoice => "invoice",
            Kind::Charge => "charge",
            Kind::Subscription => "subscription",
            Kind::Refund => "refund",
            Kind::Product => "product",
            Kind::Price => "price",
            Kind::BalanceTransaction => "balance_transaction",
            Kind::PaymentIntent => "payment_intent",
            Kind::CheckoutSession => "checkout.session",
            Kind::PaymentMethod => "payment_method",
            Kind::Dispute => "dispute",
            Kind::Payout => "payout",
        }
    }

    /// The name in `No such ...` messages.
    fn noun(self) -> &'static str {
        match self {
            Kind::PaymentMethod => "PaymentMethod",
            other => other.object(),
        }
    }

    /// Id prefix.
    fn prefix(self) -> &'static str {
        match self {
            Kind::Customer => "cus",
            Kind::Invoice => "in",
            Kind::Charge => "ch",
            Kind::Subscription => "sub",
            Kind::Refund => "re",
            Kind::Product => "prod",
            Kind::Price => "price",
            Kind::BalanceTransaction => "txn",
            Kind::PaymentIntent => "pi",
            Kind::CheckoutSession => "cs_test",
            Kind::PaymentMethod => "pm",
            Kind::Dispute => "dp",
            Kind::Payout => "po",
        }
    }

    /// The collection's URL path.
    fn url(self) -> &'static str {
        match self {
            Kind::Customer => "/v1/customers",
            Kind::Invoice => "/v1/invoices",
            Kind::Charge => "/v1/charges",
            Kind::Subscription => "/v1/subscriptions",
            Kind::Refund => "/v1/refunds",
            Kind::Product => "/v1/products",
            Kind::Price => "/v1/prices",
            Kind::BalanceTransaction => "/v1/balance_transactions",
            Kind::PaymentIntent => "/v1/payment_intents",
            Kind::CheckoutSession => "/v1/checkout/sessions",
            Kind::PaymentMethod => "/v1/payment_methods",
            Kind::Dispute => "/v1/disputes",
            Kind::Payout => "/v1/payouts",
        }
    }

    /// The filters the list endpoint takes besides `limit` and the cursors.
    fn list_filters(self) -> &'static [(&'static str, Filter)] {
        use Filter::*;
        match self {
            Kind::Customer => &[("email", Eq("email")), ("created", Range("created"))],
            Kind::Invoice => &[
                ("collection_method", OneOf("collection_method", COLLECTION_METHODS)),
                ("created", Range("created")),
                ("customer", Eq("customer")),
                ("customer_account", Eq("customer_account")),
                ("status", OneOf("status", &["draft", "open", "paid", "uncollectible", "void"])),
                ("subscription", Eq("subscription")),
            ],
            Kind::Charge => {
                &[("created", Range("created")), ("customer", Eq("customer")), ("payment_intent", Eq("payment_intent"))]
            }
            Kind::Subscription => &[
                ("automatic_tax", Flag("enabled", "automatic_tax.enabled")),
                ("collection_method", OneOf("collection_method", COLLECTION_METHODS)),
                ("created", Range("created")),
                ("current_period_end", Range("items.data.0.current_period_end")),
                ("current_period_start", Range("items.data.0.current_period_start")),
                ("customer", Eq("customer")),
                ("customer_account", Eq("customer_account")),
                ("price", SubscriptionPrice),
                ("status", SubscriptionStatus),
            ],
            Kind::Refund | Kind::Dispute => {
                &[("charge", Eq("charge")), ("created", Range("created")), ("payment_intent", Eq("payment_intent"))]
            }
            Kind::Product => &[
                ("active", Bool("active")),
                ("created", Range("created")),
                ("ids", AnyOf("id")),
                ("shippable", Bool("shippable")),
                ("url", Eq("url")),
            ],
            Kind::Price => &[
                ("active", Bool("active")),
                ("created", Range("created")),
                ("currency", Eq("currency")),
                ("product", Eq("product")),
                ("type", OneOf("type", &["one_time", "recurring"])),
            ],
            Kind::BalanceTransaction => &[
                ("created", Range("created")),
                ("currency", Eq("currency")),
                ("payout", Payout),
                ("source", Eq("source")),
                ("type", Eq("type")),
            ],
            Kind::PaymentIntent => &[
                ("created", Range("created")),
                ("customer", Eq("customer")),
                ("customer_account", Eq("customer_account")),
            ],
            Kind::Payout => &[
                ("arrival_date", Range("arrival_date")),
                ("created", Range("created")),
                ("destination", Eq("destination")),
                ("status", OneOf("status", &["pending", "paid", "failed", "canceled"])),
            ],
            Kind::CheckoutSession | Kind::PaymentMethod => &[],
        }
    }

    /// The fields the search endpoint can query (first path segment).
    fn search_fields(self) -> &'static [&'static str] {
        match self {
            Kind::Customer => &["created", "email", "metadata", "name", "phone"],
            Kind::Invoice => &[
                "created",
                "currency",
                "customer",
                "metadata",
                "number",
                "receipt_number",
                "status",
                "subscription",
                "total",
            ],
            Kind::Charge => &[
                "amount",
                "billing_details",
                "created",
                "currency",
                "customer",
                "disputed",
                "metadata",
                "payment_intent",
                "payment_method_details",
                "refunded",
                "status",
            ],
            Kind::Subscription => &["canceled_at", "created", "metadata", "status"],
            Kind::Product => &["active", "created", "description", "metadata", "name", "shippable", "url"],
            Kind::PaymentIntent => &["amount", "created", "currency", "customer", "metadata", "status"],
            Kind::Price => &["active", "created", "currency", "lookup_key", "metadata", "product", "type"],
            _ => &[],
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Data
// ------------------------------------------------------------------------------------------------

/// Seeded data of the fake.
#[derive(Debug)]
pub struct Data {
    /// Objects of each kind, newest first.
    objects: BTreeMap<Kind, Vec<Value>>,
    /// The automatic payout that settled each balance transaction.
    payout_of: BTreeMap<String, String>,
    /// Seconds clock for new objects, later than every seeded one.
    clock: i64,
    /// Sequence for new ids.
    seq: u64,
    /// Saved answers of POSTs by `Idempotency-Key`, replayed when the key comes again.
    idempotency: BTreeMap<String, (u16, Vec<u8>)>,
}

/// Creation time of the first seeded object.
const T0: i64 = 1_700_000_000;
const DAY: i64 = 86_400;

impl Data {
    /// The initial data after start or reset: 25 customers, 12 products, 8 prices, 15 payment
    /// intents and charges, 11 refunds and disputes, 14 invoices, 13 subscriptions (2
    /// canceled), 15 balance transactions, 12 payouts and 4 payment methods.
    pub fn seed() -> Self {
        let mut data = Self {
            objects: BTreeMap::new(),
            payout_of: BTreeMap::new(),
            clock: 1_750_000_000,
            seq: 1000,
            idempotency: BTreeMap::new(),
        };
        data.seed_customers();
        data.seed_catalog();
        data.seed_payments();
        data.seed_billing();
        data.seed_payouts();
        for list in data.objects.values_mut() {
            list.sort_by(newest_first);
        }
        data
    }

    fn push(&mut self, kind: Kind, v: Value) {
        self.objects.entry(kind).or_default().push(v);
    }

    fn seed_customers(&mut self) {
        const FIRST: [&str; 25] = [
            "Jane", "John", "Ava", "Liam", "Mia", "Noah", "Emma", "Oliver", "Sophia", "Lucas", "Isabella", "Ethan",
            "Amelia", "Mason", "Harper", "Logan", "Evelyn", "James", "Abigail", "Benjamin", "Emily", "Elijah", "Ella",
            "Henry", "Grace",
        ];
        const LAST: [&str; 25] = [
            "Cooper", "Smith", "Garcia", "Nguyen", "Brown", "Miller", "Davis", "Wilson", "Moore", "Taylor", "Anderson",
            "Thomas", "Jackson", "White", "Harris", "Martin", "Thompson", "Lee", "Walker", "Hall", "Allen", "Young",
            "King", "Wright", "Scott",
        ];
        const PLANS: [&str; 3] = ["free", "pro", "team"];
        for i in 1..=25usize {
            let (first, last) = (FIRST[i - 1], LAST[i - 1]);
            let id = format!("cus_{i:04}");
            self.push(
                Kind::Customer,
                json!({
                    "id": id, "object": "customer",
                    "address": {"line1": format!("{} Market St", 100 + i), "line2": null, "city": "San Francisco", "state": "CA", "postal_code": "94103", "country": "US"},
                    "balance": 0, "created": T0 + i as i64 * DAY, "currency": "usd",
                    "default_source": null, "delinquent": i % 9 == 0, "description": null,
                    "email": format!("{}.{}@example.com", first.to_lowercase(), last.to_lowercase()),
                    "invoice_prefix": format!("C{i:04}"),
                    "invoice_settings": {"default_payment_method": if i <= 2 { json!(format!("pm_{i:04}")) } else { Value::Null }},
                    "livemode": false, "metadata": {"plan": PLANS[i % 3]},
                    "name": format!("{first} {last}"), "phone": format!("+1415555{i:04}"),
                    "preferred_locales": ["en"], "tax_exempt": "none",
                }),
            );
        }
        const CARDS: [(&str, &str, Option<usize>); 4] = [
            ("visa", "4242", Some(1)),
            ("mastercard", "4444", Some(2)),
            ("visa", "4242", None),
            ("amex", "8431", None),
        ];
        for (i, (brand, last4, customer)) in CARDS.iter().enumerate() {
            let n = i + 1;
            self.push(
                Kind::PaymentMethod,
                json!({
                    "id": format!("pm_{n:04}"), "object": "payment_method", "type": "card",
                    "billing_details": {"email": null, "name": null, "phone": null, "address": null},
                    "card": {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2030, "country": "US", "funding": "credit"},
                    "created": T0 + n as i64 * 600, "customer": customer.map(|c| format!("cus_{c:04}")),
                    "livemode": false, "metadata": {},
                }),
            );
        }
    }

    fn seed_catalog(&mut self) {
        const NAMES: [&str; 12] = [
            "Starter Plan",
            "Pro Plan",
            "Team Plan",
            "Enterprise Plan",
            "Analytics Add-on",
            "Priority Support",
            "T-Shirt",
            "Hoodie",
            "Sticker Pack",
            "Mug",
            "Onboarding Session",
            "Gift Card",
        ];
        for (i, name) in NAMES.iter().enumerate() {
            let n = i + 1;
            let physical = (7..=10).contains(&n);
            let created = T0 + n as i64 * DAY / 2;
            self.push(
                Kind::Product,
                json!({
                    "id": format!("prod_{n:04}"), "object": "product", "active": n % 4 != 0,
                    "created": created, "default_price": if n <= 6 { json!(format!("price_{n:04}")) } else { Value::Null },
                    "description": format!("{name} from the fake catalog"), "images": [],
                    "livemode": false, "marketing_features": [], "metadata": {"category": if physical { "merch" } else { "software" }},
                    "name": name, "package_dimensions": null, "shippable": if physical { json!(true) } else { Value::Null },
                    "statement_descriptor": null, "tax_code": null, "unit_label": null, "updated": created,
                    "url": format!("https://shop.example.com/products/{n}"),
                }),
            );
        }
        // Monthly prices for products 1-6, one-time prices for products 1-2.
        for n in 1..=8usize {
            let recurring = n <= 6;
            let amount = if recurring { 1000 * n as i64 } else { 25_000 * (n as i64 - 6) };
            let product = if recurring { n } else { n - 6 };
            self.push(
                Kind::Price,
                price_object(
                    &format!("price_{n:04}"),
                    &format!("prod_{product:04}"),
                    amount,
                    "usd",
                    recurring,
                    T0 + n as i64 * DAY,
                ),
            );
        }
    }

    fn seed_payments(&mut self) {
        for n in 1..=15usize {
            let amount = 1000 + 250 * n as i64;
            let currency = if n % 5 == 0 { "eur" } else { "usd" };
            let customer = format!("cus_{:04}", n % 5 + 1);
            let status = match n {
                13 => "requires_payment_method",
                14 => "requires_confirmation",
                15 => "canceled",
                _ => "succeeded",
            };
            let paid = status == "succeeded";
            let created = T0 + n as i64 * DAY;
            let pm = if n == 13 { Value::Null } else { json!(format!("pm_{:04}", n % 2 + 1)) };
            self.push(
                Kind::PaymentIntent,
                json!({
                    "id": format!("pi_{n:04}"), "object": "payment_intent", "amount": amount,
                    "amount_capturable": 0, "amount_received": if paid { amount } else { 0 },
                    "automatic_payment_methods": null, "canceled_at": if n == 15 { json!(created + 3600) } else { Value::Null },
                    "cancellation_reason": if n == 15 { json!("abandoned") } else { Value::Null },
                    "capture_method": "automatic", "client_secret": format!("pi_{n:04}_secret_fake"),
                    "confirmation_method": "automatic", "created": created, "currency": currency,
                    "customer": customer, "customer_account": null, "description": format!("Order #{}", 5000 + n),
                    "latest_charge": if paid { json!(format!("ch_{n:04}")) } else { Value::Null },
                    "livemode": false, "metadata": {"order_id": format!("{}", 5000 + n)},
                    "payment_method": pm, "payment_method_types": ["card"], "receipt_email": null,
                    "setup_future_usage": null, "statement_descriptor": null,
                    "statement_descriptor_suffix": null, "status": status,
                }),
            );
        }
        for n in 1..=15usize {
            let with_intent = n <= 12;
            let amount = if with_intent { 1000 + 250 * n as i64 } else { 4200 + n as i64 };
            let currency = if with_intent && n % 5 == 0 { "eur" } else { "usd" };
            let refunded = if n <= 11 { 500 } else { 0 };
            let card = if n % 2 == 0 { ("visa", "4242") } else { ("mastercard", "4444") };
            self.push(
                Kind::Charge,
                json!({
                    "id": format!("ch_{n:04}"), "object": "charge", "amount": amount,
                    "amount_captured": amount, "amount_refunded": refunded,
                    "balance_transaction": if with_intent { json!(format!("txn_{n:04}")) } else { Value::Null },
                    "billing_details": {"email": null, "name": null, "address": {"postal_code": "94103"}},
                    "captured": true, "created": T0 + n as i64 * DAY + 5, "currency": currency,
                    "customer": format!("cus_{:04}", n % 5 + 1), "description": format!("Order #{}", 5000 + n),
                    "disputed": n <= 11, "livemode": false, "metadata": {"order_id": format!("{}", 5000 + n)},
                    "paid": true,
                    "payment_intent": if with_intent { json!(format!("pi_{n:04}")) } else { Value::Null },
                    "payment_method": format!("pm_{:04}", n % 2 + 1),
                    "payment_method_details": {"type": "card", "card": {"brand": card.0, "last4": card.1, "exp_month": 12, "exp_year": 2030}},
                    "receipt_email": null, "refunded": false, "status": "succeeded",
                }),
            );
        }
        const REASONS: [&str; 3] = ["requested_by_customer", "duplicate", "fraudulent"];
        const STATUSES: [&str; 4] = ["needs_response", "under_review", "won", "lost"];
        for n in 1..=11usize {
            let created = T0 + n as i64 * DAY + 7200;
            self.push(
                Kind::Refund,
                json!({
                    "id": format!("re_{n:04}"), "object": "refund", "amount": 500,
                    "balance_transaction": null, "charge": format!("ch_{n:04}"), "created": created,
                    "currency": if n % 5 == 0 { "eur" } else { "usd" }, "metadata": {},
                    "payment_intent": format!("pi_{n:04}"),
                    "reason": REASONS[n % 3],
                    "status": "succeeded",
                }),
            );
            self.push(
                Kind::Dispute,
                json!({
                    "id": format!("dp_{n:04}"), "object": "dispute", "amount": 1000 + 250 * n as i64,
                    "charge": format!("ch_{n:04}"), "created": created + DAY,
                    "currency": if n % 5 == 0 { "eur" } else { "usd" },
                    "evidence_details": {"due_by": created + 8 * DAY, "has_evidence": n % 2 == 0, "past_due": false, "submission_count": n % 2},
                    "is_charge_refundable": false, "livemode": false, "metadata": {},
                    "payment_intent": format!("pi_{n:04}"),
                    "reason": if n % 2 == 0 { "fraudulent" } else { "product_not_received" },
                    "status": STATUSES[n % 4],
                }),
            );
        }
    }

    fn seed_billing(&mut self) {
        for n in 1..=13usize {
            let price = self.get(Kind::Price, &format!("price_{:04}", n % 6 + 1)).cloned().unwrap_or(Value::Null);
            let created = T0 + n as i64 * DAY;
            let status = match n {
                3 => "trialing",
                5 => "past_due",
                12 | 13 => "canceled",
                _ => "active",
            };
            let canceled = status == "canceled";
            let id = format!("sub_{n:04}");
            let item = json!({
                "id": format!("si_{n:04}"), "object": "subscription_item", "created": created,
                "current_period_start": created + 30 * DAY, "current_period_end": created + 60 * DAY,
                "metadata": {}, "price": price, "quantity": 1 + n as i64 % 3, "subscription": id,
            });
            self.push(
                Kind::Subscription,
                json!({
                    "id": id, "object": "subscription",
                    "automatic_tax": {"enabled": n % 3 == 0, "liability": null},
                    "cancel_at_period_end": n == 7, "canceled_at": if canceled { json!(created + 40 * DAY) } else { Value::Null },
                    "cancellation_details": {"reason": if canceled { json!("cancellation_requested") } else { Value::Null }},
                    "collection_method": if n % 4 == 0 { "send_invoice" } else { "charge_automatically" },
                    "created": created, "currency": "usd", "customer": format!("cus_{:04}", n % 8 + 1),
                    "customer_account": null, "days_until_due": if n % 4 == 0 { json!(30) } else { Value::Null },
                    "default_payment_method": null, "description": null,
                    "ended_at": if canceled { json!(created + 40 * DAY) } else { Value::Null },
                    "items": sub_items(&id, vec![item]), "livemode": false,
                    "metadata": {"tier": if n % 2 == 0 { "gold" } else { "silver" }},
                    "start_date": created, "status": status,
                    "trial_end": if n == 3 { json!(created + 14 * DAY) } else { Value::Null },
                    "trial_start": if n == 3 { json!(created) } else { Value::Null },
                }),
            );
        }
        for n in 1..=14usize {
            let status = match n {
                1..=8 => "paid",
                9..=11 => "open",
                12 | 13 => "draft",
                _ => "void",
            };
            let send = matches!(n, 10 | 11 | 13);
            let total = 2000 + 100 * n as i64;
            let created = T0 + n as i64 * DAY + 60;
            let finalized = status != "draft";
            let paid = status == "paid";
            let customer = format!("cus_{:04}", n % 6 + 1);
            self.push(
                Kind::Invoice,
                json!({
                    "id": format!("in_{n:04}"), "object": "invoice", "amount_due": total,
                    "amount_paid": if paid { total } else { 0 },
                    "amount_remaining": if paid { 0 } else { total },
                    "auto_advance": !finalized, "collection_method": if send { "send_invoice" } else { "charge_automatically" },
                    "created": created, "currency": "usd", "customer": customer,
                    "customer_account": null,
                    "customer_email": null, "description": null,
                    "due_date": if send { json!(created + 30 * DAY) } else { Value::Null },
                    "footer": null,
                    "hosted_invoice_url": if finalized { json!(format!("https://invoice.stripe.com/i/acct_fake/test_in_{n:04}")) } else { Value::Null },
                    "livemode": false, "metadata": {},
                    "number": if finalized { json!(format!("C{:04}-{n:04}", n % 6 + 1)) } else { Value::Null },
                    "receipt_number": null, "status": status,
                    "status_transitions": {"finalized_at": if finalized { json!(created + 3600) } else { Value::Null }, "paid_at": if paid { json!(created + 7200) } else { Value::Null }},
                    "subscription": if n <= 11 { json!(format!("sub_{n:04}")) } else { Value::Null },
                    "subtotal": total, "total": total,
                }),
            );
        }
    }

    fn seed_payouts(&mut self) {
        for n in 1..=12usize {
            let created = T0 + n as i64 * 2 * DAY + 300;
            let status = match n {
                11 | 12 => "pending",
                9 => "failed",
                _ => "paid",
            };
            self.push(
                Kind::Payout,
                json!({
                    "id": format!("po_{n:04}"), "object": "payout", "amount": 10_000 + 1000 * n as i64,
                    "arrival_date": created + 2 * DAY, "automatic": true,
                    "balance_transaction": if n <= 3 { json!(format!("txn_{:04}", 12 + n)) } else { Value::Null },
                    "created": created, "currency": "usd", "description": "STRIPE PAYOUT",
                    "destination": if n % 2 == 0 { "ba_0002" } else { "ba_0001" },
                    "failure_code": if n == 9 { json!("account_closed") } else { Value::Null },
                    "livemode": false, "metadata": {}, "method": "standard", "source_type": "card",
                    "statement_descriptor": null, "status": status, "type": "bank_account",
                }),
            );
        }
        for n in 1..=15usize {
            let (kind, amount, source, currency) = if n <= 12 {
                ("charge", 1000 + 250 * n as i64, format!("ch_{n:04}"), if n % 5 == 0 { "eur" } else { "usd" })
            } else {
                ("payout", -(10_000 + 1000 * (n as i64 - 12)), format!("po_{:04}", n - 12), "usd")
            };
            let fee = if kind == "charge" { 30 + amount * 29 / 1000 } else { 0 };
            let id = format!("txn_{n:04}");
            if n <= 12 {
                self.payout_of.insert(id.clone(), format!("po_{:04}", (n - 1) / 4 + 1));
            }
            self.push(
                Kind::BalanceTransaction,
                json!({
                    "id": id, "object": "balance_transaction", "amount": amount,
                    "available_on": T0 + n as i64 * DAY + 2 * DAY, "created": T0 + n as i64 * DAY + 10,
                    "currency": currency, "description": if kind == "charge" { json!(format!("Order #{}", 5000 + n)) } else { json!("STRIPE PAYOUT") },
                    "fee": fee, "fee_details": if fee > 0 { json!([{"amount": fee, "currency": currency, "description": "Stripe processing fees", "type": "stripe_fee"}]) } else { json!([]) },
                    "net": amount - fee, "reporting_category": kind, "source": source,
                    "status": "available", "type": kind,
                }),
            );
        }
    }

    fn get(&self, kind: Kind, id: &str) -> Option<&Value> {
        self.objects.get(&kind)?.iter().find(|o| o["id"] == id)
    }

    fn get_mut(&mut self, kind: Kind, id: &str) -> Option<&mut Value> {
        self.objects.get_mut(&kind)?.iter_mut().find(|o| o["id"] == id)
    }

    /// The object named in the path, or 404.
    fn require(&self, kind: Kind, id: &str) -> Result<&Value, ApiError> {
        self.get(kind, id).ok_or_else(|| ApiError::not_found(kind, id))
    }

    fn require_mut(&mut self, kind: Kind, id: &str) -> Result<&mut Value, ApiError> {
        self.get_mut(kind, id).ok_or_else(|| ApiError::not_found(kind, id))
    }

    /// The object named by a parameter, or 400 `resource_missing`.
    fn require_ref(&self, kind: Kind, id: &str, param: &str) -> Result<&Value, ApiError> {
        self.get(kind, id).ok_or_else(|| ApiError::missing_ref(kind, id, param))
    }

    /// Checks an optional reference parameter.
    fn check_ref(&self, params: &Map<String, Value>, kind: Kind, param: &str) -> Result<(), ApiError> {
        match params.get(param).and_then(Value::as_str) {
            Some(id) => self.require_ref(kind, id, param).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Stores a new object as the newest of its kind and returns it.
    fn insert(&mut self, kind: Kind, v: Value) -> Value {
        self.objects.entry(kind).or_default().insert(0, v.clone());
        v
    }

    fn remove(&mut self, kind: Kind, id: &str) -> Option<Value> {
        let list = self.objects.get_mut(&kind)?;
        let idx = list.iter().position(|o| o["id"] == id)?;
        Some(list.remove(idx))
    }

    fn new_id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}_{:04}", self.seq)
    }

    fn tick(&mut self) -> i64 {
        self.clock += 1;
        self.clock
    }
}

/// A price object.
fn price_object(id: &str, product: &str, amount: i64, currency: &str, recurring: bool, created: i64) -> Value {
    json!({
        "id": id, "object": "price", "active": true, "billing_scheme": "per_unit",
        "created": created, "currency": currency, "livemode": false, "lookup_key": null,
        "metadata": {}, "nickname": null, "product": product,
        "recurring": if recurring { json!({"interval": "month", "interval_count": 1, "usage_type": "licensed", "meter": null}) } else { Value::Null },
        "tax_behavior": "unspecified", "type": if recurring { "recurring" } else { "one_time" },
        "unit_amount": amount, "unit_amount_decimal": amount.to_string(),
    })
}

/// The `items` list of a subscription.
fn sub_items(sub: &str, items: Vec<Value>) -> Value {
    json!({"object": "list", "data": items, "has_more": false, "total_count": null, "url": format!("/v1/subscription_items?subscription={sub}")})
}

/// Stripe's list order: newest first, ties by id descending.
fn newest_first(a: &Value, b: &Value) -> Ordering {
    sort_key(b).cmp(&sort_key(a))
}

fn sort_key(v: &Value) -> (i64, String) {
    (v["created"].as_i64().unwrap_or(0), v["id"].as_str().unwrap_or("").to_string())
}

/// The value at a dotted path (`items.data.0.price.id`).
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, seg| match cur {
        Value::Array(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => cur.get(seg),
    })
}

// ------------------------------------------------------------------------------------------------
// Lists
// ------------------------------------------------------------------------------------------------

/// Query pairs grouped by base name: `created[gte]=1` gives `created -> [(Some("gte"), "1")]`.
fn group_query(raw: Option<&str>) -> BTreeMap<String, Vec<(Option<String>, String)>> {
    let mut groups: BTreeMap<String, Vec<(Option<String>, String)>> = BTreeMap::new();
    for (key, value) in form_pairs(raw.unwrap_or("").as_bytes()) {
        let (base, sub) = match key.split_once('[') {
            Some((base, rest)) => (base.to_string(), Some(rest.trim_end_matches(']').to_string())),
            None => (key, None),
        };
        groups.entry(base).or_default().push((sub, value));
    }
    groups
}

/// The single plain value of a query parameter.
fn single<'a>(groups: &'a BTreeMap<String, Vec<(Option<String>, String)>>, name: &str) -> Option<&'a str> {
    groups.get(name).and_then(|v| v.last()).map(|(_, value)| value.as_str())
}

/// `limit`: 1-100, default 10.
fn parse_limit(groups: &BTreeMap<String, Vec<(Option<String>, String)>>) -> Result<usize, ApiError> {
    let Some(raw) = single(groups, "limit") else { return Ok(10) };
    let n: i64 = raw.parse().map_err(|_| ApiError::invalid(format!("Invalid integer: {raw}"), Some("limit")))?;
    if n < 1 {
        return Err(ApiError::invalid("This value must be greater than or equal to 1.", Some("limit")));
    }
    if n > 100 {
        return Err(ApiError::invalid("This value must be less than or equal to 100.", Some("limit")));
    }
    Ok(n as usize)
}

fn parse_bool(raw: &str, param: &str) -> Result<bool, ApiError> {
    match raw {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::invalid(format!("Invalid boolean: {raw}"), Some(param))),
    }
}

fn check_enum(raw: &str, allowed: &[&str], param: &str) -> Result<(), ApiError> {
    if allowed.contains(&raw) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!("Invalid {param}: must be one of {}", allowed.join(", ")), Some(param)))
    }
}

/// One list condition, parsed and validated.
enum Cond {
    Eq(&'static str, String),
    Bool(&'static str, bool),
    Range(&'static str, &'static str, i64),
    AnyOf(&'static str, Vec<String>),
    SubscriptionStatus(Option<String>),
    SubscriptionPrice(String),
    Payout(String),
}

fn range_op(sub: &str) -> Option<&'static str> {
    ["gt", "gte", "lt", "lte"].into_iter().find(|op| *op == sub)
}

/// Turns the query into conditions, rejecting unknown or malformed parameters.
fn parse_conditions(
    kind: Kind,
    groups: &BTreeMap<String, Vec<(Option<String>, String)>>,
) -> Result<Vec<Cond>, ApiError> {
    let filters = kind.list_filters();
    let mut conds = Vec::new();
    for (name, values) in groups {
        if matches!(name.as_str(), "limit" | "starting_after" | "ending_before" | "expand") {
            continue;
        }
        let Some((_, filter)) = filters.iter().find(|(n, _)| n == name) else {
            return Err(ApiError::parameter_unknown(name));
        };
        for (sub, raw) in values {
            let param = match sub {
                Some(s) => format!("{name}[{s}]"),
                None => name.clone(),
            };
            let cond = match (*filter, sub.as_deref()) {
                (Filter::Eq(path), None) => Cond::Eq(path, raw.clone()),
                (Filter::OneOf(path, allowed), None) => {
                    check_enum(raw, allowed, name)?;
                    Cond::Eq(path, raw.clone())
                }
                (Filter::Bool(path), None) => Cond::Bool(path, parse_bool(raw, name)?),
                (Filter::Flag(key, path), Some(s)) if s == key => Cond::Bool(path, parse_bool(raw, &param)?),
                (Filter::Range(path), sub) => {
                    let op = match sub {
                        None => "eq",
                        Some(s) => range_op(s).ok_or_else(|| ApiError::parameter_unknown(&param))?,
                    };
                    let ts = raw
                        .parse()
                        .map_err(|_| ApiError::invalid(format!("Invalid integer: {raw}"), Some(param.as_str())))?;
                    Cond::Range(path, op, ts)
                }
                (Filter::AnyOf(_), None) => {
                    // Stripe takes arrays as `ids[]=a` or `ids[0]=a`; a bare `ids=a` is not one.
                    return Err(ApiError::invalid("Invalid array", Some(name.as_str())));
                }
                (Filter::AnyOf(path), Some(_)) => {
                    match conds.iter_mut().find(|c| matches!(c, Cond::AnyOf(p, _) if *p == path)) {
                        Some(Cond::AnyOf(_, ids)) => {
                            ids.push(raw.clone());
                            continue;
                        }
                        _ => Cond::AnyOf(path, vec![raw.clone()]),
                    }
                }
                (Filter::SubscriptionStatus, None) => {
                    check_enum(raw, SUBSCRIPTION_STATUSES, name)?;
                    Cond::SubscriptionStatus(Some(raw.clone()))
                }
                (Filter::SubscriptionPrice, None) => Cond::SubscriptionPrice(raw.clone()),
                (Filter::Payout, None) => Cond::Payout(raw.clone()),
                _ => return Err(ApiError::parameter_unknown(&param)),
            };
            conds.push(cond);
        }
    }
    if kind == Kind::Subscription && !groups.contains_key("status") {
        conds.push(Cond::SubscriptionStatus(None));
    }
    Ok(conds)
}

impl Cond {
    fn matches(&self, data: &Data, rec: &Value) -> bool {
        match self {
            Cond::Eq(path, want) => at(rec, path).and_then(Value::as_str) == Some(want.as_str()),
            Cond::Bool(path, want) => at(rec, path).and_then(Value::as_bool).unwrap_or(false) == *want,
            Cond::Range(path, op, ts) => {
                let Some(v) = at(rec, path).and_then(Value::as_i64) else { return false };
                match *op {
                    "gt" => v > *ts,
                    "gte" => v >= *ts,
                    "lt" => v < *ts,
                    "lte" => v <= *ts,
                    _ => v == *ts,
                }
            }
            Cond::AnyOf(path, ids) => at(rec, path).and_then(Value::as_str).is_some_and(|v| ids.iter().any(|i| i == v)),
            Cond::SubscriptionStatus(want) => {
                let status = rec["status"].as_str().unwrap_or("");
                match want.as_deref() {
                    None => status != "canceled",
                    Some("all") => true,
                    Some("ended") => matches!(status, "canceled" | "incomplete_expired"),
                    Some(s) => status == s,
                }
            }
            Cond::SubscriptionPrice(price) => rec["items"]["data"]
                .as_array()
                .is_some_and(|items| items.iter().any(|it| it["price"]["id"] == price.as_str())),
            Cond::Payout(payout) => rec["id"].as_str().and_then(|id| data.payout_of.get(id)) == Some(payout),
        }
    }
}

/// `GET /v1/<kind>`.
fn list(state: &Shared, kind: Kind, raw: Option<&str>) -> Reply {
    let groups = group_query(raw);
    let limit = parse_limit(&groups)?;
    let conds = parse_conditions(kind, &groups)?;
    let after = single(&groups, "starting_after");
    let before = single(&groups, "ending_before");
    if after.is_some() && before.is_some() {
        return Err(ApiError::invalid(
            "You may only specify one of these parameters: ending_before, starting_after.",
            Some("ending_before"),
        ));
    }
    let data = lock(&state.stripe);
    let cursor = match (after, before) {
        (Some(id), _) => Some(sort_key(data.require_ref(kind, id, "starting_after")?)),
        (_, Some(id)) => Some(sort_key(data.require_ref(kind, id, "ending_before")?)),
        _ => None,
    };
    let all = data.objects.get(&kind).map(Vec::as_slice).unwrap_or_default();
    let matching = all.iter().filter(|rec| conds.iter().all(|c| c.matches(&data, rec)));
    let (page, has_more): (Vec<Value>, bool) = match (cursor, before.is_some()) {
        (Some(key), true) => {
            let newer: Vec<&Value> = matching.filter(|r| sort_key(r) > key).collect();
            let start = newer.len().saturating_sub(limit);
            (newer[start..].iter().map(|v| (*v).clone()).collect(), start > 0)
        }
        (cursor, _) => {
            let mut rest = matching.filter(|r| cursor.as_ref().is_none_or(|key| &sort_key(r) < key));
            let page: Vec<Value> = rest.by_ref().take(limit).cloned().collect();
            (page, rest.next().is_some())
        }
    };
    Ok(Json(json!({"object": "list", "data": page, "has_more": has_more, "url": kind.url()})))
}

// ------------------------------------------------------------------------------------------------
// Search
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Like,
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Debug)]
enum Lit {
    Str(String),
    /// A bare number, with its text for comparing with string fields (`last4:4242`).
    Num(f64, String),
    Null,
}

/// One `field op value` clause.
#[derive(Debug)]
struct Clause {
    negated: bool,
    path: Vec<String>,
    op: Op,
    value: Lit,
}

/// A parsed search query: clauses joined by AND (default) or OR.
#[derive(Debug)]
struct SearchQuery {
    any: bool,
    clauses: Vec<Clause>,
}

const QUERY_HELP: &str = "We were unable to parse your search query. Try using the format \
    `metadata[\"key\"]:\"value\"` to query for metadata or `key:\"value\"` to query for other fields.";

/// A character cursor over the query text.
struct Scanner {
    chars: Vec<char>,
    pos: usize,
}

impl Scanner {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    /// A quoted string after its opening quote, honouring backslash escapes.
    fn quoted(&mut self, quote: char) -> Option<String> {
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            self.pos += 1;
            match c {
                '\\' => {
                    out.push(self.peek()?);
                    self.pos += 1;
                }
                c if c == quote => return Some(out),
                c => out.push(c),
            }
        }
    }

    /// `AND` / `OR` followed by whitespace, consumed when present.
    fn keyword(&mut self) -> Option<bool> {
        let start = self.pos;
        let word = self.take_while(|c| c.is_ascii_alphabetic());
        let any = if word.eq_ignore_ascii_case("and") {
            Some(false)
        } else if word.eq_ignore_ascii_case("or") {
            Some(true)
        } else {
            None
        };
        if any.is_some() && self.peek().is_some_and(char::is_whitespace) {
            return any;
        }
        self.pos = start;
        None
    }

    fn clause(&mut self) -> Option<Clause> {
        let negated = self.eat('-');
        let field = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if field.is_empty() {
            return None;
        }
        let mut path: Vec<String> = field.split('.').map(str::to_string).collect();
        if self.eat('[') {
            let quote = self.peek().filter(|c| *c == '\'' || *c == '"')?;
            self.pos += 1;
            path.push(self.quoted(quote)?);
            if !self.eat(']') {
                return None;
            }
        }
        let op = if self.eat(':') {
            Op::Eq
        } else if self.eat('~') {
            Op::Like
        } else if self.eat('>') {
            if self.eat('=') {
                Op::Gte
            } else {
                Op::Gt
            }
        } else if self.eat('<') {
            if self.eat('=') {
                Op::Lte
            } else {
                Op::Lt
            }
        } else {
            return None;
        };
        let value = match self.peek()? {
            q @ ('\'' | '"') => {
                self.pos += 1;
                Lit::Str(self.quoted(q)?)
            }
            _ => {
                let text = self.take_while(|c| !c.is_whitespace());
                match text.parse::<f64>() {
                    _ if text == "null" => Lit::Null,
                    Ok(n) => Lit::Num(n, text),
                    Err(_) => Lit::Str(text),
                }
            }
        };
        Some(Clause { negated, path, op, value })
    }
}

/// Parses a query and checks its fields against what `kind` supports.
fn parse_search(kind: Kind, text: &str) -> Result<SearchQuery, ApiError> {
    let bad = || ApiError::invalid(QUERY_HELP, Some("query"));
    let mut sc = Scanner { chars: text.chars().collect(), pos: 0 };
    let mut joiner: Option<bool> = None;
    let mut clauses = Vec::new();
    loop {
        sc.skip_ws();
        if sc.peek().is_none() {
            break;
        }
        if !clauses.is_empty() {
            let any = match sc.keyword() {
                Some(any) => {
                    sc.skip_ws();
                    any
                }
                None => false,
            };
            if joiner.is_some_and(|j| j != any) {
                return Err(ApiError::invalid("Search queries cannot combine AND and OR clauses.", Some("query")));
            }
            joiner = Some(any);
        }
        clauses.push(sc.clause().ok_or_else(bad)?);
    }
    if clauses.is_empty() {
        return Err(bad());
    }
    let resource = kind.url().trim_start_matches("/v1/");
    for c in &clauses {
        let field = c.path[0].as_str();
        if !kind.search_fields().contains(&field) {
            return Err(ApiError::invalid(
                format!(
                    "Field `{field}` is an unsupported search field for resource `{resource}`. See \
                     https://stripe.com/docs/search#query-fields-for-{resource} for a list of supported fields."
                ),
                Some("query"),
            ));
        }
        if field == "metadata" && c.path.len() != 2 {
            return Err(bad());
        }
        match (&c.op, &c.value) {
            (Op::Like, Lit::Str(s)) if s.chars().count() < 3 => {
                return Err(ApiError::invalid(
                    "Substring search (`~`) requires a value of at least 3 characters.",
                    Some("query"),
                ))
            }
            (Op::Like, Lit::Str(_)) | (Op::Eq, _) => {}
            (Op::Gt | Op::Gte | Op::Lt | Op::Lte, Lit::Num(..)) => {}
            _ => return Err(bad()),
        }
    }
    Ok(SearchQuery { any: joiner == Some(true), clauses })
}

impl Clause {
    fn matches(&self, rec: &Value) -> bool {
        let found = self.path.iter().try_fold(rec, |cur, seg| cur.get(seg.as_str()));
        let hit = match (&self.op, &self.value) {
            (Op::Eq, Lit::Null) => found.is_none_or(Value::is_null),
            (Op::Eq, Lit::Str(want)) => match found {
                Some(Value::String(s)) => s.eq_ignore_ascii_case(want),
                Some(Value::Bool(b)) => want == &b.to_string(),
                Some(Value::Number(n)) => n.to_string() == *want,
                _ => false,
            },
            (Op::Eq, Lit::Num(want, text)) => match found {
                Some(Value::String(s)) => s == text,
                Some(v) => v.as_f64() == Some(*want),
                None => false,
            },
            (Op::Like, Lit::Str(want)) => {
                found.and_then(Value::as_str).is_some_and(|s| s.to_lowercase().contains(&want.to_lowercase()))
            }
            (op, Lit::Num(want, _)) => found.and_then(Value::as_f64).is_some_and(|v| match op {
                Op::Gt => v > *want,
                Op::Gte => v >= *want,
                Op::Lt => v < *want,
                _ => v <= *want,
            }),
            _ => false,
        };
        hit != self.negated
    }
}

fn encode_page(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

fn decode_page(token: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    String::from_utf8(raw).ok()?.strip_prefix("offset:")?.parse().ok()
}

/// `GET /v1/<kind>/search`.
fn search(state: &Shared, kind: Kind, raw: Option<&str>) -> Reply {
    let groups = group_query(raw);
    if let Some(name) = groups.keys().find(|k| !matches!(k.as_str(), "query" | "limit" | "page" | "expand")) {
        return Err(ApiError::parameter_unknown(name));
    }
    let text = single(&groups, "query").ok_or_else(|| ApiError::parameter_missing("query"))?;
    let query = parse_search(kind, text)?;
    let limit = parse_limit(&groups)?;
    let offset = match single(&groups, "page") {
        Some(token) => decode_page(token).ok_or_else(|| ApiError::invalid("Invalid page token.", Some("page")))?,
        None => 0,
    };
    let data = lock(&state.stripe);
    let all = data.objects.get(&kind).map(Vec::as_slice).unwrap_or_default();
    let hits: Vec<&Value> = all
        .iter()
        .filter(|rec| {
            let mut results = query.clauses.iter().map(|c| c.matches(rec));
            if query.any {
                results.any(|b| b)
            } else {
                results.all(|b| b)
            }
        })
        .collect();
    let page: Vec<Value> = hits.iter().skip(offset).take(limit).map(|v| (*v).clone()).collect();
    let has_more = hits.len() > offset + limit;
    Ok(Json(json!({
        "object": "search_result",
        "data": page,
        "has_more": has_more,
        "next_page": if has_more { json!(encode_page(offset + limit)) } else { Value::Null },
        "url": format!("{}/search", kind.url()),
    })))
}

// ------------------------------------------------------------------------------------------------
// Form bodies
// ------------------------------------------------------------------------------------------------

/// The type of a body parameter, used to check and convert form values.
#[derive(Debug, Clone, Copy)]
enum Ty {
    Str,
    Int,
    Num,
    Bool,
    Enum(&'static [&'static str]),
    /// String-to-string map (metadata).
    Map,
    Obj(&'static [(&'static str, Ty)]),
    List(&'static Ty),
}

type Fields = &'static [(&'static str, Ty)];

const ADDRESS: Ty = Ty::Obj(&[
    ("line1", Ty::Str),
    ("line2", Ty::Str),
    ("city", Ty::Str),
    ("state", Ty::Str),
    ("postal_code", Ty::Str),
    ("country", Ty::Str),
]);
const STRINGS: Ty = Ty::List(&Ty::Str);
const COLLECTION: Ty = Ty::Enum(COLLECTION_METHODS);
const FUTURE_USAGE: Ty = Ty::Enum(&["off_session", "on_session"]);
const CAPTURE: Ty = Ty::Enum(&["automatic", "automatic_async", "manual"]);
const LINE_ITEMS: Ty = Ty::List(&Ty::Obj(&[("price", Ty::Str), ("quantity", Ty::Int)]));
const FEATURES: Ty = Ty::List(&Ty::Obj(&[("name", Ty::Str)]));
const DIMENSIONS: Ty = Ty::Obj(&[("height", Ty::Num), ("length", Ty::Num), ("weight", Ty::Num), ("width", Ty::Num)]);

const CUSTOMER_FIELDS: Fields = &[
    ("email", Ty::Str),
    ("name", Ty::Str),
    ("phone", Ty::Str),
    ("description", Ty::Str),
    ("address", ADDRESS),
    ("balance", Ty::Int),
    ("preferred_locales", STRINGS),
    ("tax_exempt", Ty::Enum(&["none", "exempt", "reverse"])),
    ("metadata", Ty::Map),
];
const INVOICE_FIELDS: Fields = &[
    ("customer", Ty::Str),
    ("auto_advance", Ty::Bool),
    ("collection_method", COLLECTION),
    ("currency", Ty::Str),
    ("days_until_due", Ty::Int),
    ("due_date", Ty::Int),
    ("description", Ty::Str),
    ("footer", Ty::Str),
    ("subscription", Ty::Str),
    ("pending_invoice_items_behavior", Ty::Enum(&["exclude", "include"])),
    ("metadata", Ty::Map),
];
const FINALIZE_FIELDS: Fields = &[("auto_advance", Ty::Bool)];
const SUBSCRIPTION_CREATE_FIELDS: Fields = &[
    ("customer", Ty::Str),
    ("items", LINE_ITEMS),
    ("cancel_at_period_end", Ty::Bool),
    ("collection_method", COLLECTION),
    ("currency", Ty::Str),
    ("days_until_due", Ty::Int),
    ("default_payment_method", Ty::Str),
    ("description", Ty::Str),
    (
        "payment_behavior",
        Ty::Enum(&["allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete"]),
    ),
    ("trial_period_days", Ty::Int),
    ("metadata", Ty::Map),
];
const SUBSCRIPTION_UPDATE_FIELDS: Fields = &[
    ("cancel_at_period_end", Ty::Bool),
    ("collection_method", COLLECTION),
    ("days_until_due", Ty::Int),
    ("default_payment_method", Ty::Str),
    ("description", Ty::Str),
    ("items", Ty::List(&Ty::Obj(&[("id", Ty::Str), ("price", Ty::Str), ("quantity", Ty::Int), ("deleted", Ty::Bool)]))),
    ("proration_behavior", Ty::Enum(&["always_invoice", "create_prorations", "none"])),
    ("metadata", Ty::Map),
];
const REFUND_FIELDS: Fields = &[
    ("charge", Ty::Str),
    ("payment_intent", Ty::Str),
    ("amount", Ty::Int),
    ("reason", Ty::Enum(&["duplicate", "fraudulent", "requested_by_customer"])),
    ("refund_application_fee", Ty::Bool),
    ("reverse_transfer", Ty::Bool),
    ("metadata", Ty::Map),
];
const PRODUCT_CREATE_FIELDS: Fields = &[
    ("name", Ty::Str),
    ("id", Ty::Str),
    ("active", Ty::Bool),
    ("description", Ty::Str),
    ("images", STRINGS),
    ("marketing_features", FEATURES),
    ("package_dimensions", DIMENSIONS),
    ("shippable", Ty::Bool),
    ("statement_descriptor", Ty::Str),
    ("tax_code", Ty::Str),
    ("unit_label", Ty::Str),
    ("url", Ty::Str),
    ("metadata", Ty::Map),
];
const PRODUCT_UPDATE_FIELDS: Fields = &[
    ("name", Ty::Str),
    ("active", Ty::Bool),
    ("default_price", Ty::Str),
    ("description", Ty::Str),
    ("images", STRINGS),
    ("marketing_features", FEATURES),
    ("package_dimensions", DIMENSIONS),
    ("shippable", Ty::Bool),
    ("statement_descriptor", Ty::Str),
    ("tax_code", Ty::Str),
    ("unit_label", Ty::Str),
    ("url", Ty::Str),
    ("metadata", Ty::Map),
];
const PAYMENT_INTENT_CREATE_FIELDS: Fields = &[
    ("amount", Ty::Int),
    ("currency", Ty::Str),
    ("customer", Ty::Str),
    ("description", Ty::Str),
    ("payment_method", Ty::Str),
    ("payment_method_types", STRINGS),
    (
        "automatic_payment_methods",
        Ty::Obj(&[("enabled", Ty::Bool), ("allow_redirects", Ty::Enum(&["always", "never"]))]),
    ),
    ("capture_method", CAPTURE),
    ("confirm", Ty::Bool),
    ("receipt_email", Ty::Str),
    ("setup_future_usage", FUTURE_USAGE),
    ("statement_descriptor", Ty::Str),
    ("statement_descriptor_suffix", Ty::Str),
    ("return_url", Ty::Str),
    ("metadata", Ty::Map),
];
const PAYMENT_INTENT_UPDATE_FIELDS: Fields = &[
    ("amount", Ty::Int),
    ("currency", Ty::Str),
    ("customer", Ty::Str),
    ("description", Ty::Str),
    ("payment_method", Ty::Str),
    ("payment_method_types", STRINGS),
    ("capture_method", CAPTURE),
    ("receipt_email", Ty::Str),
    ("setup_future_usage", FUTURE_USAGE),
    ("statement_descriptor", Ty::Str),
    ("statement_descriptor_suffix", Ty::Str),
    ("metadata", Ty::Map),
];
const CONFIRM_FIELDS: Fields = &[
    ("payment_method", Ty::Str),
    ("receipt_email", Ty::Str),
    ("return_url", Ty::Str),
    ("setup_future_usage", FUTURE_USAGE),
    ("off_session", Ty::Bool),
];
const CANCEL_FIELDS: Fields =
    &[("cancellation_reason", Ty::Enum(&["abandoned", "duplicate", "fraudulent", "requested_by_customer"]))];
const PRICE_FIELDS: Fields = &[
    ("currency", Ty::Str),
    ("product", Ty::Str),
    ("product_data", Ty::Obj(&[("name", Ty::Str)])),
    ("unit_amount", Ty::Int),
    ("active", Ty::Bool),
    ("nickname", Ty::Str),
    (
        "recurring",
        Ty::Obj(&[
            ("interval", Ty::Enum(&["day", "week", "month", "year"])),
            ("interval_count", Ty::Int),
            ("usage_type", Ty::Enum(&["licensed", "metered"])),
        ]),
    ),
    ("billing_scheme", Ty::Enum(&["per_unit", "tiered"])),
    ("lookup_key", Ty::Str),
    ("tax_behavior", Ty::Enum(&["exclusive", "inclusive", "unspecified"])),
    ("metadata", Ty::Map),
];
const CHECKOUT_FIELDS: Fields = &[
    ("mode", Ty::Enum(&["payment", "setup", "subscription"])),
    ("line_items", LINE_ITEMS),
    ("success_url", Ty::Str),
    ("cancel_url", Ty::Str),
    ("customer", Ty::Str),
    ("customer_email", Ty::Str),
    ("client_reference_id", Ty::Str),
    ("allow_promotion_codes", Ty::Bool),
    ("metadata", Ty::Map),
];
const ATTACH_FIELDS: Fields = &[("customer", Ty::Str)];

/// Inserts `value` at the bracket path `segs` (`["items", "0", "price"]`) of a nested map; `[]`
/// segments append.
fn insert_nested(target: &mut Map<String, Value>, segs: &[&str], value: String) {
    let Some((first, rest)) = segs.split_first() else { return };
    let key = if first.is_empty() { target.len().to_string() } else { (*first).to_string() };
    if rest.is_empty() {
        target.insert(key, Value::String(value));
        return;
    }
    let slot = target.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    if let Value::Object(inner) = slot {
        insert_nested(inner, rest, value);
    }
}

/// Parses a Stripe form body into nested values (`a[b][0]=x`); maps keyed 0, 1, ... stay maps and
/// become lists when checked against a list type.
fn parse_form(body: &[u8]) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in form_pairs(body) {
        let (head, tail) = key.split_once('[').unwrap_or((key.as_str(), ""));
        let mut segs = vec![head];
        segs.extend(tail.split('[').map(|s| s.trim_end_matches(']')).filter(|_| !tail.is_empty()));
        insert_nested(&mut out, &segs, value);
    }
    out
}

/// Checks and converts one value against its type. `""` unsets (null).
fn coerce(value: &Value, ty: Ty, param: &str) -> Result<Value, ApiError> {
    if value.as_str() == Some("") {
        return Ok(Value::Null);
    }
    let text = value.as_str();
    let not_scalar = || ApiError::invalid(format!("Invalid {param}: expected a single value"), Some(param));
    match ty {
        Ty::Str => text.map(|s| json!(s)).ok_or_else(not_scalar),
        Ty::Int => {
            let s = text.ok_or_else(not_scalar)?;
            s.parse::<i64>()
                .map(|n| json!(n))
                .map_err(|_| ApiError::invalid(format!("Invalid integer: {s}"), Some(param)))
        }
        Ty::Num => {
            let s = text.ok_or_else(not_scalar)?;
            s.parse::<f64>()
                .map(|n| json!(n))
                .map_err(|_| ApiError::invalid(format!("Invalid decimal: {s}"), Some(param)))
        }
        Ty::Bool => parse_bool(text.ok_or_else(not_scalar)?, param).map(Value::Bool),
        Ty::Enum(allowed) => {
            let s = text.ok_or_else(not_scalar)?;
            check_enum(s, allowed, param).map(|()| json!(s))
        }
        Ty::Map => match value {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    let s = v
                        .as_str()
                        .ok_or_else(|| ApiError::invalid("Invalid metadata: values must be strings", Some(param)))?;
                    out.insert(k.clone(), json!(s));
                }
                Ok(Value::Object(out))
            }
            _ => Err(ApiError::invalid(format!("Invalid object: {param} must be a hash"), Some(param))),
        },
        Ty::Obj(fields) => {
            let Value::Object(m) = value else {
                return Err(ApiError::invalid(format!("Invalid object: {param} must be a hash"), Some(param)));
            };
            let mut out = Map::new();
            for (k, v) in m {
                let sub = format!("{param}[{k}]");
                let (_, ty) = fields
                    .iter()
                    .find(|(name, _)| *name == k.as_str())
                    .ok_or_else(|| ApiError::parameter_unknown(&sub))?;
                out.insert(k.clone(), coerce(v, *ty, &sub)?);
            }
            Ok(Value::Object(out))
        }
        Ty::List(item) => {
            let Value::Object(m) = value else {
                return Err(ApiError::invalid(format!("Invalid array: {param} must be an array"), Some(param)));
            };
            let mut entries: Vec<(usize, &Value)> = Vec::new();
            for (k, v) in m {
                let idx = k
                    .parse()
                    .map_err(|_| ApiError::invalid(format!("Invalid array: {param} must be an array"), Some(param)))?;
                entries.push((idx, v));
            }
            entries.sort_by_key(|(i, _)| *i);
            entries
                .iter()
                .map(|(i, v)| coerce(v, *item, &format!("{param}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
    }
}

/// Parses and checks a write's form body: unknown, missing and malformed parameters answer 400.
fn parse_params(
    headers: &HeaderMap,
    body: &[u8],
    fields: Fields,
    required: &[&str],
) -> Result<Map<String, Value>, ApiError> {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !body.is_empty() && !content_type.starts_with("application/x-www-form-urlencoded") {
        let shown = content_type.split(';').next().unwrap_or("");
        return Err(ApiError::invalid(
            format!("Invalid request: unsupported Content-Type {shown}. If error persists and you need assistance, please contact support@stripe.com."),
            None,
        ));
    }
    let mut out = Map::new();
    for (key, value) in parse_form(body) {
        if key == "expand" {
            continue;
        }
        let (_, ty) = fields.iter().find(|(name, _)| *name == key).ok_or_else(|| ApiError::parameter_unknown(&key))?;
        out.insert(key.clone(), coerce(&value, *ty, &key)?);
    }
    for name in required {
        if out.get(*name).is_none_or(Value::is_null) {
            return Err(ApiError::parameter_missing(name));
        }
    }
    Ok(out)
}

/// Applies update parameters: metadata merges key by key (empty value removes a key), other
/// fields replace the stored value.
fn apply(record: &mut Value, params: &Map<String, Value>) {
    for (key, value) in params {
        if key == "metadata" {
            match value {
                Value::Object(m) => {
                    let meta = &mut record["metadata"];
                    if !meta.is_object() {
                        *meta = json!({});
                    }
                    for (k, v) in m {
                        if let Some(obj) = meta.as_object_mut() {
                            if v.as_str() == Some("") {
                                obj.remove(k);
                            } else {
                                obj.insert(k.clone(), v.clone());
                            }
                        }
                    }
                }
                _ => record["metadata"] = json!({}),
            }
        } else {
            record[key.as_str()] = value.clone();
        }
    }
}

fn str_param<'a>(params: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    params.get(name).and_then(Value::as_str)
}

fn int_param(params: &Map<String, Value>, name: &str) -> Option<i64> {
    params.get(name).and_then(Value::as_i64)
}

fn bool_param(params: &Map<String, Value>, name: &str) -> Option<bool> {
    params.get(name).and_then(Value::as_bool)
}

// ------------------------------------------------------------------------------------------------
// Writes
// ------------------------------------------------------------------------------------------------

/// The fields and required fields of each create.
fn create_fields(kind: Kind) -> (Fields, &'static [&'static str]) {
    match kind {
        Kind::Customer => (CUSTOMER_FIELDS, &[]),
        Kind::Invoice => (INVOICE_FIELDS, &["customer"]),
        Kind::Subscription => (SUBSCRIPTION_CREATE_FIELDS, &["customer", "items"]),
        Kind::Refund => (REFUND_FIELDS, &[]),
        Kind::Product => (PRODUCT_CREATE_FIELDS, &["name"]),
        Kind::PaymentIntent => (PAYMENT_INTENT_CREATE_FIELDS, &["amount", "currency"]),
        Kind::Price => (PRICE_FIELDS, &["currency"]),
        Kind::CheckoutSession => (CHECKOUT_FIELDS, &["mode"]),
        _ => (&[], &[]),
    }
}

/// The fields of each update.
fn update_fields(kind: Kind) -> Fields {
    match kind {
        Kind::Customer => CUSTOMER_FIELDS,
        Kind::Subscription => SUBSCRIPTION_UPDATE_FIELDS,
        Kind::Product => PRODUCT_UPDATE_FIELDS,
        Kind::PaymentIntent => PAYMENT_INTENT_UPDATE_FIELDS,
        _ => &[],
    }
}

/// `POST /v1/<kind>`.
fn create(state: &Shared, kind: Kind, headers: &HeaderMap, body: &[u8]) -> Reply {
    let (fields, required) = create_fields(kind);
    let params = parse_params(headers, body, fields, required)?;
    let mut data = lock(&state.stripe);
    let created = data.tick();
    let record = match kind {
        Kind::Customer => {
            let id = data.new_id(Kind::Customer.prefix());
            let mut rec = json!({
                "id": id, "object": "customer", "address": null, "balance": 0, "created": created,
                "currency": null, "default_source": null, "delinquent": false, "description": null,
                "email": null, "invoice_prefix": id.trim_start_matches("cus_").to_uppercase(),
                "invoice_settings": {"default_payment_method": null}, "livemode": false,
                "metadata": {}, "name": null, "phone": null, "preferred_locales": [],
                "tax_exempt": "none",
            });
            apply(&mut rec, &params);
            rec
        }
        Kind::Invoice => create_invoice(&mut data, &params, created)?,
        Kind::Subscription => create_subscription(&mut data, &params, created)?,
        Kind::Refund => create_refund(&mut data, &params, created)?,
        Kind::Product => {
            let id = match str_param(&params, "id") {
                Some(id) if data.get(Kind::Product, id).is_some() => {
                    return Err(ApiError::coded("resource_already_exists", "Product already exists.", Some("id")))
                }
                Some(id) => id.to_string(),
                None => data.new_id(Kind::Product.prefix()),
            };
            let mut rec = json!({
                "id": id, "object": "product", "active": true, "created": created,
                "default_price": null, "description": null, "images": [], "livemode": false,
                "marketing_features": [], "metadata": {}, "name": null, "package_dimensions": null,
                "shippable": null, "statement_descriptor": null, "tax_code": null,
                "unit_label": null, "updated": created, "url": null,
            });
            apply(&mut rec, &params);
            rec["id"] = json!(id);
            rec
        }
        Kind::Price => create_price(&mut data, &params, created)?,
        Kind::PaymentIntent => create_payment_intent(&mut data, &params, created)?,
        Kind::CheckoutSession => create_checkout_session(&mut data, &params, created)?,
        _ => return Err(ApiError::invalid("Unrecognized request URL (POST).", None)),
    };
    Ok(Json(data.insert(kind, record)))
}

fn create_invoice(data: &mut Data, params: &Map<String, Value>, created: i64) -> Result<Value, ApiError> {
    data.check_ref(params, Kind::Customer, "customer")?;
    data.check_ref(params, Kind::Subscription, "subscription")?;
    let send = str_param(params, "collection_method") == Some("send_invoice");
    let due_date =
        match (int_param(params, "due_date"), int_param(params, "days_until_due")) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "You can only specify one of `due_date` or `days_until_due`.",
                    Some("due_date"),
                ))
            }
            (_, Some(_)) | (Some(_), _) if !send => return Err(ApiError::invalid(
                "You can only set `due_date` or `days_until_due` on invoices with `collection_method=send_invoice`.",
                Some("collection_method"),
            )),
            (Some(d), None) => json!(d),
            (None, Some(days)) => json!(created + days * DAY),
            (None, None) if send => {
                return Err(ApiError::invalid(
                    "Invoices with `collection_method=send_invoice` require `due_date` or `days_until_due`.",
                    Some("days_until_due"),
                ))
            }
            (None, None) => Value::Null,
        };
    let customer = str_param(params, "customer").unwrap_or_default();
    let email = data.get(Kind::Customer, customer).map(|c| c["email"].clone()).unwrap_or(Value::Null);
    let id = data.new_id(Kind::Invoice.prefix());
    let mut rec = json!({
        "id": id, "object": "invoice", "amount_due": 0, "amount_paid": 0, "amount_remaining": 0,
        "auto_advance": false, "collection_method": "charge_automatically", "created": created,
        "currency": "usd", "customer": customer, "customer_account": null, "customer_email": email, "description": null,
        "footer": null, "hosted_invoice_url": null, "livemode": false,
        "metadata": {}, "number": null, "receipt_number": null, "status": "draft",
        "status_transitions": {"finalized_at": null, "paid_at": null},
        "subscription": null, "subtotal": 0, "total": 0,
    });
    let mut rest = params.clone();
    rest.remove("days_until_due");
    rest.remove("pending_invoice_items_behavior");
    apply(&mut rec, &rest);
    rec["due_date"] = due_date;
    Ok(rec)
}

/// Subscription items for `{price, quantity}` entries: each price must exist and be recurring.
fn build_items(
    data: &mut Data,
    sub: &str,
    entries: &[Value],
    param: &str,
    created: i64,
) -> Result<Vec<Value>, ApiError> {
    let mut items = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let p = format!("{param}[{i}][price]");
        let price_id = entry["price"].as_str().ok_or_else(|| ApiError::parameter_missing(&p))?;
        let price = data.require_ref(Kind::Price, price_id, &p)?.clone();
        if price["type"] != "recurring" {
            return Err(ApiError::invalid(
                "The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.",
                Some(p.as_str()),
            ));
        }
        let id = data.new_id("si");
        items.push(json!({
            "id": id, "object": "subscription_item", "created": created,
            "current_period_start": created, "current_period_end": created + 30 * DAY,
            "metadata": {}, "price": price, "quantity": entry["quantity"].as_i64().unwrap_or(1),
            "subscription": sub,
        }));
    }
    Ok(items)
}

fn create_subscription(data: &mut Data, params: &Map<String, Value>, created: i64) -> Result<Value, ApiError> {
    data.check_ref(params, Kind::Customer, "customer")?;
    data.check_ref(params, Kind::PaymentMethod, "default_payment_method")?;
    let entries = params.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
    if entries.is_empty() {
        return Err(ApiError::parameter_missing("items"));
    }
    let id = data.new_id(Kind::Subscription.prefix());
    let items = build_items(data, &id, &entries, "items", created)?;
    let currency = items[0]["price"]["currency"].clone();
    let trial = int_param(params, "trial_period_days");
    let mut rec = json!({
        "id": id, "object": "subscription", "automatic_tax": {"enabled": false, "liability": null},
        "cancel_at_period_end": false, "canceled_at": null, "cancellation_details": {"reason": null},
        "collection_method": "charge_automatically", "created": created, "currency": currency,
        "customer": str_param(params, "customer"), "customer_account": null, "days_until_due": null,
        "default_payment_method": null, "description": null, "ended_at": null,
        "items": sub_items(&id, items), "livemode": false, "metadata": {}, "start_date": created,
        "status": if trial.is_some() { "trialing" } else { "active" },
        "trial_end": trial.map(|d| created + d * DAY), "trial_start": trial.map(|_| created),
    });
    let mut rest = params.clone();
    for k in ["items", "trial_period_days", "payment_behavior"] {
        rest.remove(k);
    }
    apply(&mut rec, &rest);
    Ok(rec)
}

fn create_refund(data: &mut Data, params: &Map<String, Value>, created: i64) -> Result<Value, ApiError> {
    let charge_id = match (str_param(params, "charge"), str_param(params, "payment_intent")) {
        (Some(ch), _) => data.require_ref(Kind::Charge, ch, "charge")?["id"].as_str().unwrap_or_default().to_string(),
        (None, Some(pi)) => {
            let intent = data.require_ref(Kind::PaymentIntent, pi, "payment_intent")?;
            intent["latest_charge"].as_str().map(str::to_string).ok_or_else(|| {
                ApiError::invalid(
                    format!("This PaymentIntent ({pi}) does not have a successful charge to refund."),
                    Some("payment_intent"),
                )
            })?
        }
        (None, None) => return Err(ApiError::parameter_missing("charge")),
    };
    let charge = data.require_ref(Kind::Charge, &charge_id, "charge")?.clone();
    let captured = charge["amount"].as_i64().unwrap_or(0);
    let refunded = charge["amount_refunded"].as_i64().unwrap_or(0);
    let left = captured - refunded;
    if left <= 0 {
        return Err(ApiError::coded(
            "charge_already_refunded",
            format!("Charge {charge_id} has already been refunded."),
            None,
        ));
    }
    let amount = int_param(params, "amount").unwrap_or(left);
    if amount < 1 || amount > left {
        return Err(ApiError::coded(
            "amount_too_large",
            format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"),
            Some("amount"),
        ));
    }
    if let Some(ch) = data.get_mut(Kind::Charge, &charge_id) {
        ch["amount_refunded"] = json!(refunded + amount);
        ch["refunded"] = json!(refunded + amount == captured);
    }
    let id = data.new_id(Kind::Refund.prefix());
    Ok(json!({
        "id": id, "object": "refund", "amount": amount, "balance_transaction": null,
        "charge": charge_id, "created": created, "currency": charge["currency"],
        "metadata": params.get("metadata").cloned().unwrap_or_else(|| json!({})),
        "payment_intent": charge["payment_intent"], "reason": params.get("reason").cloned().unwrap_or(Value::Null),
        "status": "succeeded",
    }))
}

fn create_price(data: &mut Data, params: &Map<String, Value>, created: i64) -> Result<Value, ApiError> {
    let product = match (str_param(params, "product"), params.get("product_data")) {
        (Some(p), _) => data.require_ref(Kind::Product, p, "product")?["id"].as_str().unwrap_or_default().to_string(),
        (None, Some(pd)) => {
            let name = pd["name"].as_str().ok_or_else(|| ApiError::parameter_missing("product_data[name]"))?;
            let id = data.new_id(Kind::Product.prefix());
            let product = json!({
                "id": id, "object": "product", "active": true, "created": created, "default_price": null,
                "description": null, "images": [], "livemode": false, "marketing_features": [],
                "metadata": {}, "name": name, "package_dimensions": null, "shippable": null,
                "statement_descriptor": null, "tax_code": null, "unit_label": null,
                "updated": created, "url": null,
            });
            data.insert(Kind::Product, product);
            id
        }
        (None, None) => return Err(ApiError::parameter_missing("product")),
    };
    let tiered = str_param(params, "billing_scheme") == Some("tiered");
    let amount = int_param(params, "unit_amount");
    if amount.is_none() && !tiered {
        return Err(ApiError::parameter_missing("unit_amount"));
    }
    let recurring = match params.get("recurring") {
        Some(r) if r.is_object() => {
            let interval = r["interval"].as_str().ok_or_else(|| ApiError::parameter_missing("recurring[interval]"))?;
            json!({
                "interval": interval, "interval_count": r["interval_count"].as_i64().unwrap_or(1),
                "usage_type": r["usage_type"].as_str().unwrap_or("licensed"), "meter": null,
            })
        }
        _ => Value::Null,
    };
    let id = data.new_id(Kind::Price.prefix());
    let currency = str_param(params, "currency").unwrap_or("usd").to_lowercase();
    let mut rec = price_object(&id, &product, amount.unwrap_or(0), &currency, !recurring.is_null(), created);
    rec["recurring"] = recurring;
    if amount.is_none() {
        rec["unit_amount"] = Value::Null;
        rec["unit_amount_decimal"] = Value::Null;
    }
    let mut rest = params.clone();
    for k in ["product", "product_data", "unit_amount", "recurring", "currency"] {
        rest.remove(k);
    }
    apply(&mut rec, &rest);
    Ok(rec)
}

fn create_payment_intent(data: &mut Data, params: &Map<String, Value>, created: i64) -> Result<Value, ApiError> {
    data.check_ref(params, Kind::Customer, "customer")?;
    data.check_ref(params, Kind::PaymentMethod, "payment_method")?;
    let amount = int_param(params, "amount").unwrap_or(0);
    let currency = str_param(params, "currency").unwrap_or("usd").to_lowercase();
    if amount < 50 && currency == "usd" {
        return Err(ApiError::coded("amount_too_small", "Amount must be at least $0.50 usd", Some("amount")));
    }
    let confirm = bool_param(params, "confirm").unwrap_or(false);
    if params.contains_key("return_url") && !confirm {
        return Err(ApiError::invalid("You can only pass `return_url` when `confirm=true`.", Some("return_url")));
    }
    let id = data.new_id(Kind::PaymentIntent.prefix());
    let mut rec = json!({
        "id": id, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
        "amount_received": 0, "automatic_payment_methods": null, "canceled_at": null,
        "cancellation_reason": null, "capture_method": "automatic_async",
        "client_secret": format!("{id}_secret_fake"), "confirmation_method": "automatic",
        "created": created, "currency": currency, "customer": null, "customer_account": null, "description": null,
        "latest_charge": null, "livemode": false, "metadata": {}, "payment_method": null,
        "payment_method_types": ["card"], "receipt_email": null, "setup_future_usage": null,
        "statement_descriptor": null, "statement_descriptor_suffix": null,
        "status": "requires_payment_method",
    });
    let mut rest = params.clone();
    for k in ["confirm", "return_url", "currency"] {
        rest.remove(k);
    }
    apply(&mut rec, &rest);
    if !rec["payment_method"].is_null() {
        rec["status"] = json!("requires_confirmation");
    }
    if confirm {
        confirm_intent(data, &mut rec, created)?;
    }
    Ok(rec)
}

/// Runs a confirmation: needs a payment method; charges it (or holds it for manual capture).
fn confirm_intent(data: &mut Data, intent: &mut Value, now: i64) -> Result<(), ApiError> {
    let status = intent["status"].as_str().unwrap_or_default().to_string();
    if !matches!(status.as_str(), "requires_payment_method" | "requires_confirmation" | "requires_action") {
        return Err(ApiError::coded(
            "payment_intent_unexpected_state",
            format!("You cannot confirm this PaymentIntent because it has a status of {status}."),
            None,
        ));
    }
    let Some(pm_id) = intent["payment_method"].as_str().map(str::to_string) else {
        return Err(ApiError::coded(
            "payment_intent_unexpected_state",
            "You cannot confirm this PaymentIntent because it's missing a payment method. Update the PaymentIntent with a payment method and then confirm it again.",
            None,
        ));
    };
    let card = data.get(Kind::PaymentMethod, &pm_id).map(|pm| pm["card"].clone()).unwrap_or(Value::Null);
    let amount = intent["amount"].as_i64().unwrap_or(0);
    let manual = intent["capture_method"] == "manual";
    let charge_id = data.new_id(Kind::Charge.prefix());
    let charge = json!({
        "id": charge_id, "object": "charge", "amount": amount,
        "amount_captured": if manual { 0 } else { amount }, "amount_refunded": 0,
        "balance_transaction": null,
        "billing_details": {"email": null, "name": null, "address": null},
        "captured": !manual, "created": now, "currency": intent["currency"], "customer": intent["customer"],
        "description": intent["description"], "disputed": false, "livemode": false, "metadata": {},
        "paid": true, "payment_intent": intent["id"], "payment_method": pm_id,
        "payment_method_details": {"type": "card", "card": card}, "receipt_email": intent["receipt_email"],
        "refunded": false, "status": "succeeded",
    });
    data.insert(Kind::Charge, charge);
    intent["latest_charge"] = json!(charge_id);
    if manual {
        intent["status"] = json!("requires_capture");
        intent["amount_capturable"] = json!(amount);
    } else {
        intent["status"] = json!("succeeded");
        intent["amount_received"] = json!(amount);
    }
    Ok(())
}

fn create_checkout_session(data: &mut Data, params: &Map<String, Value>, created: i64) -> Result<Value, ApiError> {
    data.check_ref(params, Kind::Customer, "customer")?;
    let mode = str_param(params, "mode").unwrap_or("payment").to_string();
    let lines = params.get("line_items").and_then(Value::as_array).cloned().unwrap_or_default();
    if mode != "setup" && lines.is_empty() {
        return Err(ApiError::parameter_missing("line_items"));
    }
    let mut total = 0;
    let mut currency = Value::Null;
    let mut any_recurring = false;
    for (i, line) in lines.iter().enumerate() {
        let p = format!("line_items[{i}][price]");
        let price_id = line["price"].as_str().ok_or_else(|| ApiError::parameter_missing(&p))?;
        let price = data.require_ref(Kind::Price, price_id, &p)?;
        let recurring = price["type"] == "recurring";
        if mode == "payment" && recurring {
            return Err(ApiError::invalid(
                "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.",
                Some(p.as_str()),
            ));
        }
        any_recurring |= recurring;
        total += price["unit_amount"].as_i64().unwrap_or(0) * line["quantity"].as_i64().unwrap_or(1);
        currency = price["currency"].clone();
    }
    if mode == "subscription" && !any_recurring {
        return Err(ApiError::invalid(
            "You must provide at least one recurring price in `subscription` mode when using prices.",
            Some("line_items"),
        ));
    }
    let id = data.new_id(Kind::CheckoutSession.prefix());
    let mut rec = json!({
        "id": id, "object": "checkout.session", "allow_promotion_codes": null,
        "amount_subtotal": total, "amount_total": total, "cancel_url": null,
        "client_reference_id": null, "created": created, "currency": currency, "customer": null,
        "customer_email": null, "expires_at": created + DAY, "livemode": false, "metadata": {},
        "mode": mode, "payment_intent": null,
        "payment_status": if mode == "setup" { "no_payment_required" } else { "unpaid" },
        "status": "open", "subscription": null, "success_url": null,
        "url": format!("https://checkout.stripe.com/c/pay/{id}"),
    });
    let mut rest = params.clone();
    rest.remove("line_items");
    apply(&mut rec, &rest);
    Ok(rec)
}

/// `POST /v1/<kind>/{id}`.
fn update(state: &Shared, kind: Kind, id: &str, headers: &HeaderMap, body: &[u8]) -> Reply {
    let params = parse_params(headers, body, update_fields(kind), &[])?;
    let mut data = lock(&state.stripe);
    let now = data.tick();
    data.require(kind, id)?;
    match kind {
        Kind::Customer => {}
        Kind::Product => {
            if let Some(price_id) = str_param(&params, "default_price") {
                let price = data.require_ref(Kind::Price, price_id, "default_price")?;
                if price["product"] != id {
                    return Err(ApiError::invalid(
                        format!("The price `{price_id}` does not belong to product `{id}`."),
                        Some("default_price"),
                    ));
                }
            }
        }
        Kind::PaymentIntent => {
            data.check_ref(&params, Kind::Customer, "customer")?;
            data.check_ref(&params, Kind::PaymentMethod, "payment_method")?;
            let status = data.require(kind, id)?["status"].as_str().unwrap_or_default().to_string();
            if matches!(status.as_str(), "succeeded" | "canceled") {
                return Err(ApiError::coded(
                    "payment_intent_unexpected_state",
                    format!("You cannot update this PaymentIntent because it has a status of {status}."),
                    None,
                ));
            }
        }
        Kind::Subscription => return update_subscription(&mut data, id, params, now),
        _ => return Err(ApiError::invalid("Unrecognized request URL (POST).", None)),
    }
    let rec = data.require_mut(kind, id)?;
    apply(rec, &params);
    match kind {
        Kind::Product => rec["updated"] = json!(now),
        Kind::PaymentIntent if params.contains_key("payment_method") && rec["status"] == "requires_payment_method" => {
            rec["status"] = json!("requires_confirmation");
        }
        _ => {}
    }
    Ok(Json(rec.clone()))
}

fn update_subscription(data: &mut Data, id: &str, mut params: Map<String, Value>, now: i64) -> Reply {
    data.check_ref(&params, Kind::PaymentMethod, "default_payment_method")?;
    let sub = data.require(Kind::Subscription, id)?;
    if sub["status"] == "canceled" && params.keys().any(|k| k.as_str() != "metadata") {
        return Err(ApiError::invalid(
            "A canceled subscription can only update its cancellation_details and metadata.",
            None,
        ));
    }
    let mut items: Vec<Value> = sub["items"]["data"].as_array().cloned().unwrap_or_default();
    if let Some(Value::Array(changes)) = params.remove("items") {
        for (i, change) in changes.iter().enumerate() {
            match change["id"].as_str() {
                Some(item_id) => {
                    let idx = items.iter().position(|it| it["id"] == item_id).ok_or_else(|| {
                        ApiError::coded(
                            "resource_missing",
                            format!("No such subscription item: '{item_id}'"),
                            Some(format!("items[{i}][id]").as_str()),
                        )
                    })?;
                    if change["deleted"] == true {
                        items.remove(idx);
                        continue;
                    }
                    if let Some(q) = change["quantity"].as_i64() {
                        items[idx]["quantity"] = json!(q);
                    }
                    if let Some(price_id) = change["price"].as_str() {
                        let p = format!("items[{i}][price]");
                        items[idx]["price"] = data.require_ref(Kind::Price, price_id, &p)?.clone();
                    }
                }
                None => items.extend(build_items(data, id, std::slice::from_ref(change), &format!("items[{i}]"), now)?),
            }
        }
        if items.is_empty() {
            return Err(ApiError::invalid("A subscription must have at least one active plan.", Some("items")));
        }
    }
    params.remove("proration_behavior");
    let rec = data.require_mut(Kind::Subscription, id)?;
    apply(rec, &params);
    rec["items"] = sub_items(id, items);
    Ok(Json(rec.clone()))
}

/// `DELETE /v1/<kind>/{id}`.
fn delete(state: &Shared, kind: Kind, id: &str) -> Reply {
    let mut data = lock(&state.stripe);
    let now = data.tick();
    match kind {
        Kind::Customer => {
            data.require(kind, id)?;
            data.remove(kind, id);
            for sub in data.objects.entry(Kind::Subscription).or_default() {
                if sub["customer"] == id && sub["status"] != "canceled" {
                    cancel_subscription(sub, now);
                }
            }
            Ok(Json(json!({"id": id, "object": "customer", "deleted": true})))
        }
        Kind::Product => {
            data.require(kind, id)?;
            if data.objects.get(&Kind::Price).is_some_and(|prices| prices.iter().any(|p| p["product"] == id)) {
                return Err(ApiError::invalid(
                    "This product cannot be deleted because it has one or more user-created prices.",
                    None,
                ));
            }
            data.remove(kind, id);
            Ok(Json(json!({"id": id, "object": "product", "deleted": true})))
        }
        Kind::Subscription => {
            let sub = data.require_mut(kind, id)?;
            if sub["status"] == "canceled" {
                return Err(ApiError::not_found(kind, id));
            }
            cancel_subscription(sub, now);
            Ok(Json(sub.clone()))
        }
        _ => Err(ApiError::invalid("Unrecognized request URL (DELETE).", None)),
    }
}

fn cancel_subscription(sub: &mut Value, now: i64) {
    sub["status"] = json!("canceled");
    sub["canceled_at"] = json!(now);
    sub["ended_at"] = json!(now);
    sub["cancellation_details"] = json!({"reason": "cancellation_requested"});
}

/// `POST /v1/invoices/{id}/finalize`.
fn finalize_invoice(state: &Shared, id: &str, headers: &HeaderMap, body: &[u8]) -> Reply {
    let params = parse_params(headers, body, FINALIZE_FIELDS, &[])?;
    let mut data = lock(&state.stripe);
    let now = data.tick();
    let inv = data.require_mut(Kind::Invoice, id)?;
    if inv["status"] != "draft" {
        return Err(ApiError::invalid(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
            None,
        ));
    }
    let paid = inv["amount_due"].as_i64().unwrap_or(0) == 0;
    inv["status"] = json!(if paid { "paid" } else { "open" });
    inv["number"] = json!(format!(
        "{}-{}",
        inv["customer"].as_str().unwrap_or("INV").trim_start_matches("cus_"),
        id.trim_start_matches("in_")
    ));
    inv["hosted_invoice_url"] = json!(format!("https://invoice.stripe.com/i/acct_fake/test_{id}"));
    inv["status_transitions"]["finalized_at"] = json!(now);
    if paid {
        inv["status_transitions"]["paid_at"] = json!(now);
    }
    if let Some(auto) = bool_param(&params, "auto_advance") {
        inv["auto_advance"] = json!(auto);
    }
    Ok(Json(inv.clone()))
}

/// `POST /v1/invoices/{id}/send`.
fn send_invoice(state: &Shared, id: &str, headers: &HeaderMap, body: &[u8]) -> Reply {
    parse_params(headers, body, &[], &[])?;
    let data = lock(&state.stripe);
    let inv = data.require(Kind::Invoice, id)?;
    if inv["collection_method"] != "send_invoice" {
        return Err(ApiError::invalid(
            "You can only manually send an invoice if its collection method is 'send_invoice'.",
            None,
        ));
    }
    match inv["status"].as_str() {
        Some("draft") => Err(ApiError::invalid("You can't send a draft invoice. Finalize it first.", None)),
        Some("void") => Err(ApiError::invalid("You can't send a voided invoice.", None)),
        _ => Ok(Json(inv.clone())),
    }
}

/// `POST /v1/payment_intents/{id}/confirm`.
fn confirm_payment_intent(state: &Shared, id: &str, headers: &HeaderMap, body: &[u8]) -> Reply {
    let params = parse_params(headers, body, CONFIRM_FIELDS, &[])?;
    let mut data = lock(&state.stripe);
    let now = data.tick();
    data.check_ref(&params, Kind::PaymentMethod, "payment_method")?;
    let mut intent = data.require(Kind::PaymentIntent, id)?.clone();
    let mut rest = params.clone();
    for k in ["return_url", "off_session"] {
        rest.remove(k);
    }
    apply(&mut intent, &rest);
    confirm_intent(&mut data, &mut intent, now)?;
    *data.require_mut(Kind::PaymentIntent, id)? = intent.clone();
    Ok(Json(intent))
}

/// `POST /v1/payment_intents/{id}/cancel`.
fn cancel_payment_intent(state: &Shared, id: &str, headers: &HeaderMap, body: &[u8]) -> Reply {
    let params = parse_params(headers, body, CANCEL_FIELDS, &[])?;
    let mut data = lock(&state.stripe);
    let now = data.tick();
    let intent = data.require_mut(Kind::PaymentIntent, id)?;
    let status = intent["status"].as_str().unwrap_or_default().to_string();
    if !matches!(
        status.as_str(),
        "requires_payment_method" | "requires_capture" | "requires_confirmation" | "requires_action" | "processing"
    ) {
        return Err(ApiError::coded(
            "payment_intent_unexpected_state",
            format!(
                "You cannot cancel this PaymentIntent because it has a status of {status}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing."
            ),
            None,
        ));
    }
    intent["status"] = json!("canceled");
    intent["canceled_at"] = json!(now);
    intent["cancellation_reason"] = params.get("cancellation_reason").cloned().unwrap_or(Value::Null);
    Ok(Json(intent.clone()))
}

/// `POST /v1/payment_methods/{id}/attach`.
fn attach_payment_method(state: &Shared, id: &str, headers: &HeaderMap, body: &[u8]) -> Reply {
    let params = parse_params(headers, body, ATTACH_FIELDS, &["customer"])?;
    let mut data = lock(&state.stripe);
    data.require(Kind::PaymentMethod, id)?;
    let customer = str_param(&params, "customer").unwrap_or_default().to_string();
    data.require_ref(Kind::Customer, &customer, "customer")?;
    let pm = data.require_mut(Kind::PaymentMethod, id)?;
    match pm["customer"].as_str() {
        Some(current) if current != customer => {
            Err(ApiError::invalid("The payment method you provided has already been attached to a customer.", None))
        }
        _ => {
            pm["customer"] = json!(customer);
            Ok(Json(pm.clone()))
        }
    }
}

/// `GET /v1/balance`.
fn balance(state: &Shared) -> Reply {
    let data = lock(&state.stripe);
    let mut by_currency: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for txn in data.objects.get(&Kind::BalanceTransaction).map(Vec::as_slice).unwrap_or_default() {
        let entry = by_currency.entry(txn["currency"].as_str().unwrap_or("usd").to_string()).or_default();
        entry.0 += txn["net"].as_i64().unwrap_or(0);
    }
    for po in data.objects.get(&Kind::Payout).map(Vec::as_slice).unwrap_or_default() {
        if po["status"] == "pending" {
            by_currency.entry(po["currency"].as_str().unwrap_or("usd").to_string()).or_default().1 +=
                po["amount"].as_i64().unwrap_or(0);
        }
    }
    let funds = |pick: fn(&(i64, i64)) -> i64| -> Vec<Value> {
        by_currency
            .iter()
            .map(|(cur, v)| json!({"amount": pick(v), "currency": cur, "source_types": {"card": pick(v)}}))
            .collect()
    };
    Ok(Json(json!({
        "object": "balance",
        "available": funds(|v| v.0),
        "pending": funds(|v| v.1),
        "livemode": false,
    })))
}

// ------------------------------------------------------------------------------------------------
// Routes
// ------------------------------------------------------------------------------------------------

fn list_route(kind: Kind) -> MethodRouter<Shared> {
    get(move |_: Authed, State(s): State<Shared>, RawQuery(q): RawQuery| async move { list(&s, kind, q.as_deref()) })
}

fn search_route(kind: Kind) -> MethodRouter<Shared> {
    get(move |_: Authed, State(s): State<Shared>, RawQuery(q): RawQuery| async move { search(&s, kind, q.as_deref()) })
}

fn retrieve_route(kind: Kind) -> MethodRouter<Shared> {
    get(move |_: Authed, State(s): State<Shared>, Path(id): Path<String>| async move {
        lock(&s.stripe).require(kind, &id).map(|v| Json(v.clone()))
    })
}

fn create_route(kind: Kind) -> MethodRouter<Shared> {
    post(move |_: Authed, State(s): State<Shared>, headers: HeaderMap, body: Bytes| async move {
        create(&s, kind, &headers, &body)
    })
}

fn update_route(kind: Kind) -> MethodRouter<Shared> {
    post(
        move |_: Authed, State(s): State<Shared>, Path(id): Path<String>, headers: HeaderMap, body: Bytes| async move {
            update(&s, kind, &id, &headers, &body)
        },
    )
}

fn delete_route(kind: Kind) -> MethodRouter<Shared> {
    axum::routing::delete(move |_: Authed, State(s): State<Shared>, Path(id): Path<String>| async move {
        delete(&s, kind, &id)
    })
}

/// A `POST /.../{id}/<action>` route.
fn action_route(f: fn(&Shared, &str, &HeaderMap, &[u8]) -> Reply) -> MethodRouter<Shared> {
    post(
        move |_: Authed, State(s): State<Shared>, Path(id): Path<String>, headers: HeaderMap, body: Bytes| async move {
            f(&s, &id, &headers, &body)
        },
    )
}

/// Routes under `/stripe`.
/// Stripe's idempotent requests: a POST with an `Idempotency-Key` seen before gets the saved
/// answer again (with `Idempotent-Replayed: true`) instead of running twice.
pub async fn idempotency(
    State(state): State<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let key = (req.method() == axum::http::Method::POST)
        .then(|| req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string))
        .flatten();
    let Some(key) = key else { return next.run(req).await };
    let saved = lock(&state.stripe).idempotency.get(&key).cloned();
    if let Some((status, body)) = saved {
        let mut resp = (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
        resp.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
        resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
        return resp;
    }
    let (parts, body) = next.run(req).await.into_parts();
    let bytes = axum::body::to_bytes(body, 16 * 1024 * 1024).await.unwrap_or_default();
    if parts.status != StatusCode::TOO_MANY_REQUESTS {
        lock(&state.stripe).idempotency.insert(key, (parts.status.as_u16(), bytes.to_vec()));
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

pub fn routes() -> Router<Shared> {
    use Kind::*;
    let mut router = Router::new()
        .route("/v1/balance", get(|_: Authed, State(s): State<Shared>| async move { balance(&s) }))
        .route("/v1/invoices/{id}/finalize", action_route(finalize_invoice))
        .route("/v1/invoices/{id}/send", action_route(send_invoice))
        .route("/v1/payment_intents/{id}/confirm", action_route(confirm_payment_intent))
        .route("/v1/payment_intents/{id}/cancel", action_route(cancel_payment_intent))
        .route("/v1/payment_methods/{id}", retrieve_route(PaymentMethod))
        .route("/v1/payment_methods/{id}/attach", action_route(attach_payment_method))
        .route(CheckoutSession.url(), create_route(CheckoutSession))
        .route("/v1/checkout/sessions/{id}", retrieve_route(CheckoutSession));
    // Read-only collections.
    for kind in [Charge, BalanceTransaction, Dispute, Payout] {
        router =
            router.route(kind.url(), list_route(kind)).route(&format!("{}/{{id}}", kind.url()), retrieve_route(kind));
    }
    // Collections with creates; some with updates, deletes and search.
    for kind in [Customer, Invoice, Subscription, Refund, Product, Price, PaymentIntent] {
        let mut one = retrieve_route(kind);
        if matches!(kind, Customer | Subscription | Product | PaymentIntent) {
            one = one.merge(update_route(kind));
        }
        if matches!(kind, Customer | Subscription | Product) {
            one = one.merge(delete_route(kind));
        }
        router = router
            .route(kind.url(), list_route(kind).merge(create_route(kind)))
            .route(&format!("{}/{{id}}", kind.url()), one);
    }
    for kind in [Customer, Invoice, Charge, Subscription, Product, Price, PaymentIntent] {
        router = router.route(&format!("{}/search", kind.url()), search_route(kind));
    }
    router
}
