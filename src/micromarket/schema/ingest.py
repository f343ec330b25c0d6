"""Tables ``micromarket ingest`` loads (customers, transactions, products, stores, areas, events,
campaign members) and its bookkeeping (quarantine, loads, attributes)."""

from __future__ import annotations

from .base import _LOAD_ID, BOOLEAN, DATE, INTEGER, NUMBER, TEXT, TIMESTAMP, Column, Table

CUSTOMERS = Table(
    "customers",
    "One row per customer: identity, contact, location and consent.",
    (
        Column("customer_id", TEXT, "The one customer id used everywhere (ids like `17850.0` are normalised to `17850`).", required=True),
        Column("email", TEXT, "E-mail address."),
        Column("phone", TEXT, "Phone number."),
        Column("first_name", TEXT, "Given name."),
        Column("last_name", TEXT, "Family name."),
        Column("postcode", TEXT, "Postal code of the home address."),
        Column("area_id", TEXT, "The area (see `areas`) the customer lives in."),
        Column("latitude", NUMBER, "Home latitude (WGS84)."),
        Column("longitude", NUMBER, "Home longitude (WGS84)."),
        Column("country", TEXT, "Country name or code."),
        Column("gender", TEXT, "Gender as recorded."),
        Column("birth_year", INTEGER, "Year of birth."),
        Column("signup_at", TIMESTAMP, "When the customer was first known."),
        Column("consent_email", BOOLEAN, "Consent to be contacted by e-mail."),
        Column("consent_sms", BOOLEAN, "Consent to be contacted by SMS."),
        Column("consent_post", BOOLEAN, "Consent to be contacted by post."),
        _LOAD_ID,
    ),
    natural_key=("customer_id",),
    extra_attributes=True,
)

TRANSACTIONS = Table(
    "transactions",
    "One row per invoice line. Returns and cancellations are negative lines.",
    (
        Column("line_id", "UBIGINT", "Natural key: a hash of what identifies the line (invoice, customer, time, product, quantity, unit price) and its occurrence number, so re-loading a line adds nothing, whichever optional columns the file carries.", source=False),
        Column("invoice_id", TEXT, "Invoice (basket, order) id; made from customer and time when the source has none.",
               compression="fsst"),
        Column("customer_id", TEXT, "Buyer; NULL for anonymous sales (kept for store revenue, ignored by customer stages).",
               compression="dictionary"),
        Column("ts", TIMESTAMP, "Time of the purchase, in the workspace time zone.", required=True),
        Column("product_id", TEXT, "Product (see `products`); NULL where the source records baskets only.",
               compression="dictionary"),
        Column("quantity", NUMBER, "Units; negative on returns and cancellations."),
        Column("unit_price", NUMBER, "Price per unit before line discount; `amount / quantity` when the source gives only the amount."),
        Column("amount", NUMBER, "Line value after discount: `quantity * unit_price - discount` unless the source gives it."),
        Column("discount", NUMBER, "Money taken off the line (0 when none)."),
        Column("store_id", TEXT, "Store (see `stores`); NULL for online and unknown.", compression="dictionary"),
        Column("channel", TEXT, "Sales channel, e.g. `store`, `web`, `app`, `phone`.", compression="dictionary"),
        Column("is_return", BOOLEAN, "True for returns and cancellations (negative quantity or a cancellation invoice).", source=False),
        Column("original_invoice_id", TEXT, "For a return: the earlier invoice of the same customer and product it reverses, where found."),
        _LOAD_ID,
        Column("source_row", INTEGER, "Row number in the source (1 = first data row).", source=False),
    ),
    natural_key=("line_id",),
)

PRODUCTS = Table(
    "products",
    "One row per product (or service, or any offer-like item).",
    (
        Column("product_id", TEXT, "Product code.", required=True),
        Column("name", TEXT, "Product name."),
        Column("category", TEXT, "Category, e.g. `Cheese`."),
        Column("subcategory", TEXT, "Sub-category."),
        Column("brand", TEXT, "Brand."),
        Column("price_tier", TEXT, "Price tier, e.g. `everyday`, `premium`, `specialty`."),
        Column("list_price", NUMBER, "Regular selling price per unit."),
        Column("unit_cost", NUMBER, "Cost per unit, for margins."),
        Column("is_product", BOOLEAN, "False for non-product codes (postage, fees, adjustments)."),
        _LOAD_ID,
    ),
    natural_key=("product_id",),
    extra_attributes=True,
)

STORES = Table(
    "stores",
    "One row per store or branch.",
    (
        Column("store_id", TEXT, "Store id.", required=True),
        Column("name", TEXT, "Store name."),
        Column("area_id", TEXT, "The area the store stands in."),
        Column("latitude", NUMBER, "Latitude (WGS84)."),
        Column("longitude", NUMBER, "Longitude (WGS84)."),
        Column("format", TEXT, "Format, e.g. `hypermarket`, `supermarket`, `express`."),
        Column("size_sqm", NUMBER, "Sales area in square metres."),
        Column("opened_at", DATE, "Opening date."),
        _LOAD_ID,
    ),
    natural_key=("store_id",),
)

AREAS = Table(
    "areas",
    "One row per area (neighbourhood, postcode district, region, country). Any further numeric column of the source (census variables) is kept as an extra DOUBLE column.",
    (
        Column("area_id", TEXT, "Area id.", required=True),
        Column("name", TEXT, "Area name."),
        Column("latitude", NUMBER, "Centroid latitude (WGS84)."),
        Column("longitude", NUMBER, "Centroid longitude (WGS84)."),
        Column("geometry", TEXT, "Polygon as GeoJSON text, where known."),
        Column("households", NUMBER, "Number of households."),
        Column("population", NUMBER, "Number of residents."),
        Column("median_income", NUMBER, "Median household income."),
        _LOAD_ID,
    ),
    natural_key=("area_id",),
    extra_numeric=True,
)

EVENTS = Table(
    "events",
    "One row per customer event (visit, cart, e-mail open, preference change) for later stages.",
    (
        Column("event_id", TEXT, "Event id; made from the row's values when the source has none.", source=True),
        Column("customer_id", TEXT, "Customer.", required=True),
        Column("ts", TIMESTAMP, "When it happened.", required=True),
        Column("event_type", TEXT, "Kind of event, e.g. `visit`, `cart_abandoned`, `email_open`.", required=True),
        Column("channel", TEXT, "Channel of the event."),
        Column("campaign_id", TEXT, "Campaign the event belongs to, if any."),
        Column("properties", TEXT, "Further attributes as JSON text."),
        _LOAD_ID,
    ),
    natural_key=("event_id",),
)

CAMPAIGN_MEMBERS = Table(
    "campaign_members",
    "One row per customer per campaign: who was assigned to treatment or control, or sent (past campaigns: randomised "
    "experiments, or lists of who was contacted, which the balance check tells apart; later, campaigns run here).",
    (
        Column("campaign_id", TEXT, "Campaign id.", required=True),
        Column("customer_id", TEXT, "Customer.", required=True),
        Column("treatment_group", TEXT, "`treatment` or `control` (holdout).", required=True),
        Column("variant", TEXT, "Message or offer variant, if several."),
        Column("channel", TEXT, "Channel used to contact the customer."),
        Column("assigned_at", TIMESTAMP, "When the customer was assigned or contacted."),
        _LOAD_ID,
        Column("segment", TEXT, "The customer's segment when assigned (a holdout drawn per segment: its stratum); "
                                "results are measured per segment."),
    ),
    natural_key=("campaign_id", "customer_id"),
)

QUARANTINE = Table(
    "quarantine",
    "Rows kept out of a table, with the reason: invalid values (with `--on-error quarantine`) and lines excluded by a data-quality rule.",
    (
        Column("load_id", INTEGER, "The load that met the row.", source=False),
        Column("table_name", TEXT, "Target table.", source=False),
        Column("source", TEXT, "File path or database table.", source=False),
        Column("source_row", INTEGER, "Row number in the source (1 = first data row).", source=False),
        Column("column_name", TEXT, "Offending source column, where one is to blame.", source=False),
        Column("value", TEXT, "Offending value.", source=False),
        Column("rule", TEXT, "Rule broken, e.g. `type:number`, `quality:zero_price`.", source=False),
        Column("message", TEXT, "Readable explanation.", source=False),
        Column("raw", TEXT, "The whole source row as JSON text.", source=False),
    ),
    ingestible=False,
)

LOADS = Table(
    "loads",
    "One row per successful load: what was loaded when, from which source, with its quality report.",
    (
        Column("load_id", INTEGER, "Load number, increasing.", source=False),
        Column("table_name", TEXT, "Target table.", source=False),
        Column("source", TEXT, "File path or database table.", source=False),
        Column("fingerprint", TEXT, "SHA-256 of the file's bytes (or of the table name and row count).", source=False),
        Column("preset", TEXT, "Preset used, if any.", source=False),
        Column("started_at", TIMESTAMP, "Start of the load.", source=False),
        Column("finished_at", TIMESTAMP, "Commit of the load.", source=False),
        Column("rows_read", INTEGER, "Data rows read from the source.", source=False),
        Column("rows_loaded", INTEGER, "Rows added or updated.", source=False),
        Column("rows_already_present", INTEGER, "Rows skipped because their natural key was already loaded.", source=False),
        Column("rows_excluded", INTEGER, "Rows kept out by a data-quality rule.", source=False),
        Column("rows_quarantined", INTEGER, "Invalid rows kept in `quarantine`.", source=False),
        Column("report", TEXT, "The full data-quality report as JSON text.", source=False),
        Column("unloaded_at", TIMESTAMP, "When `micromarket unload` took the load's rows out again; NULL while they are in.",
               source=False),
    ),
    ingestible=False,
)

ATTRIBUTES = Table(
    "attributes",
    "One row per extra column a load kept on `customers`, `products` or `areas` (columns the canonical model has no "
    "name for: income band, household size, manufacturer, census variables), with its kind and, for bands, their order.",
    (
        Column("table_name", TEXT, "Table the column was added to.", source=False),
        Column("column_name", TEXT, "The column, the source's name in snake case.", source=False),
        Column("source_column", TEXT, "The source column it came from (in the latest load that carried it).", source=False),
        Column("kind", TEXT, "`number`, `band` (ordered ranges such as `35-44`, `50-74K`, `65+`), `category` (few "
               "distinct values) or `text`.", source=False),
        Column("levels", TEXT, "JSON: a band's values in order, or a category's values by frequency; values that are "
               "no band (`Unknown`) under `unordered`.", source=False),
        Column("load_id", INTEGER, "The load that last described the column.", source=False),
    ),
    natural_key=("table_name", "column_name"),
    ingestible=False,
)
