"""The canonical data model: every table and column name, written down once.

Every stage reads and writes these names, and ``docs/concepts/data-model.md`` documents
them (a test keeps the two in step). Types are DuckDB SQL types; Ibis maps them to each
backend.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Logical types a source value is converted to, with the rule name used in errors.
NUMBER, INTEGER, TEXT, TIMESTAMP, DATE, BOOLEAN = (
    "DOUBLE",
    "BIGINT",
    "VARCHAR",
    "TIMESTAMP",
    "DATE",
    "BOOLEAN",
)


@dataclass(frozen=True)
class Column:
    """One column of a canonical table.

    Parameters
    ----------
    name : str
        Canonical column name.
    dtype : str
        DuckDB SQL type.
    description : str
        What the column holds, shown in the data-model docs.
    required : bool
        Whether an input must provide it (through a mapping or auto-detection).
    source : bool
        Whether it can come from an input file; ``False`` for columns micromarket
        derives (keys, flags, load ids).
    compression : str
        DuckDB compression for a text column of a large table: ``dictionary`` for codes that
        repeat (customers in the log, products, stores, channels, categories, labels),
        ``fsst`` for ids that seldom do (invoices, one row per customer). Empty lets DuckDB
        try each method on every block it writes, which made writing these columns about a
        fifth slower (docs/decisions.md).
    """

    name: str
    dtype: str
    description: str
    required: bool = False
    source: bool = True
    compression: str = ""


@dataclass(frozen=True)
class Table:
    """One canonical table.

    Parameters
    ----------
    name : str
        Table name in the workspace database.
    description : str
        What one row is.
    columns : tuple of Column
        Columns in storage order.
    natural_key : tuple of str
        Columns that identify a row across loads; loading a row whose key is present
        adds nothing (dimension tables update the non-null values instead).
    extra_numeric : bool
        Whether unmapped numeric source columns are kept as extra ``DOUBLE`` columns
        (census variables on ``areas``).
    extra_attributes : bool
        Whether every unmapped source column is kept as an extra column, numbers as
        ``DOUBLE`` and the rest as text (customer and product attributes, described in
        ``attributes``).
    ingestible : bool
        Whether ``ingest`` can load it from a file or database table.
    """

    name: str
    description: str
    columns: tuple[Column, ...]
    natural_key: tuple[str, ...] = ()
    extra_numeric: bool = False
    extra_attributes: bool = False
    ingestible: bool = True

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def source_columns(self) -> list[Column]:
        return [c for c in self.columns if c.source]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def ddl(self) -> str:
        """``CREATE TABLE IF NOT EXISTS`` statement for DuckDB."""
        cols = ",\n  ".join(f'"{c.name}" {c.dtype}' + (f" USING COMPRESSION {c.compression}" if c.compression else "")
                             for c in self.columns)
        return f'CREATE TABLE IF NOT EXISTS "{self.name}" (\n  {cols}\n)'


_LOAD_ID = Column("load_id", INTEGER, "The load that added the row (see `loads`); later loads may fill in or update its values.",
                  source=False)

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

_RUN_ID = Column("profile_run_id", INTEGER, "The profile run that wrote the row (see `profile_runs`).", source=False)


def _derived(name: str, dtype: str, description: str, compression: str = "") -> Column:
    return Column(name, dtype, description, source=False, compression=compression)


def _label(name: str, description: str) -> Column:
    """A derived text column of few distinct values (codes, names, tiers)."""
    return _derived(name, TEXT, description, "dictionary")


#: ``customer_id`` of a derived per-customer table (fsst: one row, or a few, per customer).
_CUSTOMER = Column("customer_id", TEXT, "Customer.", source=False, compression="fsst")


CUSTOMER_PROFILE = Table(
    "customer_profile",
    "One row per customer with purchases: RFM, value (buy-till-you-die model, Gamma-Gamma spend, CLV), tiers and behaviour. Rewritten by `micromarket profile`.",
    (
        _CUSTOMER,
        _derived("frequency", INTEGER, "Repeat purchase occasions (days with purchases after the first)."),
        _derived("recency", NUMBER, "Time from first to last purchase occasion, in the profile's unit."),
        _derived("T", NUMBER, "Time from first purchase occasion to the observation end, in the profile's unit."),
        _derived("monetary_value", NUMBER, "Mean value of repeat purchase occasions (0 without repeats)."),
        _derived("first_purchase", DATE, "Day of the first purchase."),
        _derived("last_purchase", DATE, "Day of the last purchase."),
        _derived("r_score", INTEGER, "Recency quintile score, 5 = most recent."),
        _derived("f_score", INTEGER, "Frequency quintile score, 5 = most frequent."),
        _derived("m_score", INTEGER, "Monetary quintile score, 5 = highest spend."),
        _label("rfm_code", "The three scores, e.g. `545`."),
        _label("rfm_segment", "Named RFM segment (docs/concepts/value.md)."),
        _derived("p_alive", NUMBER, "Probability the customer is still active."),
        _derived("expected_purchases", NUMBER, "Expected purchases over the CLV horizon."),
        _derived("expected_spend", NUMBER, "Expected spend per purchase (Gamma-Gamma)."),
        _derived("margin", NUMBER, "Margin share used for the CLV (from product costs where known)."),
        _derived("clv", NUMBER, "Discounted expected margin over the horizon."),
        _label("value_tier", "`heavy` (top 20 % by CLV), `medium` (next 30 %), `light`."),
        _derived("value_decile", INTEGER, "CLV decile, 1 = highest."),
        _derived("avg_basket_value", NUMBER, "Mean invoice value."),
        _derived("avg_basket_items", NUMBER, "Mean units per invoice."),
        _derived("mean_interpurchase_days", NUMBER, "Mean days between invoices (NULL with one invoice)."),
        _derived("tenure_days", INTEGER, "Days from first to last invoice."),
        _label("top_category", "Category with the largest share of spend."),
        _derived("top_category_share", NUMBER, "That share."),
        _derived("n_categories", INTEGER, "Categories bought."),
        _derived("price_sensitivity", NUMBER, "Share of spend bought on discount or below the category's median unit price."),
        _derived("weekend_share", NUMBER, "Share of invoices on Saturday or Sunday."),
        _derived("preferred_dow", INTEGER, "Most frequent day of the week (0 = Monday)."),
        _derived("preferred_hour", INTEGER, "Most frequent hour of the day."),
        _label("preferred_channel", "Channel with most spend."),
        _label("preferred_store", "Store with most spend."),
        _derived("return_rate", NUMBER, "Returned value over bought value."),
        _RUN_ID,
    ),
    natural_key=("customer_id",),
    ingestible=False,
)

CUSTOMER_CATEGORY_SHARES = Table(
    "customer_category_shares",
    "One row per customer and category bought: spend and share of the customer's spend.",
    (
        _CUSTOMER,
        _label("category", "Product category (`(unknown)` for lines without one)."),
        _derived("spend", NUMBER, "Spend in the category."),
        _derived("share", NUMBER, "Share of the customer's spend."),
        _RUN_ID,
    ),
    natural_key=("customer_id", "category"),
    ingestible=False,
)

CUSTOMER_CHANNEL_SHARES = Table(
    "customer_channel_shares",
    "One row per customer and sales channel used: spend and share of the customer's spend.",
    (
        _CUSTOMER,
        _label("channel", "Sales channel, e.g. `store`, `web`, `app`."),
        _derived("spend", NUMBER, "Spend through the channel."),
        _derived("share", NUMBER, "Share of the customer's spend."),
        _RUN_ID,
    ),
    natural_key=("customer_id", "channel"),
    ingestible=False,
)

PROFILE_RUNS = Table(
    "profile_runs",
    "One row per `micromarket profile` run: settings, the chosen model, its parameters with standard errors, and the model comparison.",
    (
        _derived("profile_run_id", INTEGER, "Run number, increasing."),
        _derived("created_at", TIMESTAMP, "When the run committed."),
        _derived("observation_end", DATE, "Last day observed."),
        _derived("calibration_end", DATE, "End of the calibration period used for model selection."),
        _derived("unit", TEXT, "`week` or `day`."),
        _derived("model", TEXT, "Purchase model chosen (`bgnbd`, `pareto_nbd`, `mbgnbd`)."),
        _derived("report", TEXT, "Parameters, standard errors, comparison and settings as JSON text."),
    ),
    ingestible=False,
)

SEGMENTS = Table(
    "segments",
    "One row per segment: rule segments, clustered segments at each granularity, area types.",
    (
        _derived("segment_id", INTEGER, "Segment number, never reused."),
        _derived("name", TEXT, "Unique name, e.g. `lapsing-cheese-lovers` or `clusters/micro-017`."),
        _derived("kind", TEXT, "`rule`, `cluster` or `area_type`."),
        _derived("segmentation", TEXT, "The clustering or area typology the segment belongs to (NULL for rules)."),
        _derived("granularity", TEXT, "`segment` for rules; `macro`, `segment`, `niche` or `micro` within a segmentation."),
        _derived("parent_id", INTEGER, "The coarser segment this one merges into (clustered hierarchies)."),
        _derived("definition", TEXT, "The rule text, or the segment's centre as JSON for clustered segments."),
        _derived("persona_name", TEXT, "Short persona name written from what sets the segment apart."),
        _derived("persona", TEXT, "One-paragraph persona description."),
        _derived("size", INTEGER, "Members at the last refresh."),
        _derived("clv", NUMBER, "Total CLV of the members at the last refresh."),
        _derived("updated_at", TIMESTAMP, "Last refresh of the membership."),
    ),
    natural_key=("segment_id",),
    ingestible=False,
)

SEGMENT_MEMBERS = Table(
    "segment_members",
    "One row per segment and member customer.",
    (
        _derived("segment_id", INTEGER, "Segment (see `segments`)."),
        Column("customer_id", TEXT, "Member customer.", source=False),
    ),
    natural_key=("segment_id", "customer_id"),
    ingestible=False,
)

SEGMENTATIONS = Table(
    "segmentations",
    "One row per clustering or area typology: settings, fitted model (to assign new customers) and quality.",
    (
        _derived("segmentation", TEXT, "Name, e.g. `clusters`."),
        _derived("kind", TEXT, "`cluster` or `area_type`."),
        _derived("created_at", TIMESTAMP, "When it was fitted."),
        _derived("settings", TEXT, "Features, weights, method and k as JSON text."),
        _derived("model", TEXT, "Scaling and centres as JSON text: enough to assign new rows without refitting."),
        _derived("quality", TEXT, "Scores per candidate k, the chosen k, bootstrap stability as JSON text."),
    ),
    natural_key=("segmentation",),
    ingestible=False,
)

AREA_TYPES = Table(
    "area_types",
    "One row per area: its geodemographic type (from `micromarket segment areas`).",
    (
        Column("area_id", TEXT, "Area (see `areas`).", source=False),
        _derived("area_type", TEXT, "Type name, e.g. `High income, older, low density`."),
        _derived("segment_id", INTEGER, "The type's segment (see `segments`)."),
    ),
    natural_key=("area_id",),
    ingestible=False,
)

MICRO_MARKETS = Table(
    "micro_markets",
    "One row per micro-market (area, store catchment, or another place such as a country) of the last `micromarket local markets` run for that level.",
    (
        _derived("level", TEXT, "How customers were placed: `area`, `store`, or a column of `customers`."),
        _derived("unit", TEXT, "The area, store or place."),
        _derived("period_start", DATE, "First day of the analysis period."),
        _derived("period_end", DATE, "Last day of the analysis period."),
        _derived("customers", INTEGER, "Customers placed here who bought in the period."),
        _derived("revenue", NUMBER, "Their purchases in the period."),
        _derived("customer_share", NUMBER, "Share of all buying customers."),
        _derived("customer_share_low", NUMBER, "Lower end of its Wilson interval."),
        _derived("customer_share_high", NUMBER, "Upper end."),
        _derived("revenue_share", NUMBER, "Share of all revenue."),
        _derived("revenue_per_customer", NUMBER, "Mean revenue per buying customer."),
        _derived("revenue_per_customer_low", NUMBER, "Lower end of its normal interval."),
        _derived("revenue_per_customer_high", NUMBER, "Upper end."),
        _derived("value_index", NUMBER, "Revenue per customer against the chain's, x 100."),
        _derived("households", NUMBER, "Households (areas; shared among stores by where the area's customers shop)."),
        _derived("penetration", NUMBER, "Buying customers per household."),
        _derived("penetration_low", NUMBER, "Lower end of its Wilson interval."),
        _derived("penetration_high", NUMBER, "Upper end."),
        _derived("penetration_index", NUMBER, "Penetration against the chain's, x 100."),
        _derived("revenue_per_household", NUMBER, "Revenue per household."),
        _derived("spend_per_household", NUMBER, "Market potential per household in the period (areas column or setting)."),
        _derived("market_potential", NUMBER, "Households x spend per household."),
        _derived("market_share", NUMBER, "Revenue over market potential."),
        _derived("market_share_low", NUMBER, "Lower end of its interval (customers' spread)."),
        _derived("market_share_high", NUMBER, "Upper end."),
        _derived("share_index", NUMBER, "Market share against the chain's, x 100."),
        _derived("customers_before", INTEGER, "Buying customers in the period before (same length)."),
        _derived("revenue_before", NUMBER, "Revenue in the period before."),
        _derived("customer_growth", NUMBER, "Customers against the period before, minus 1."),
        _derived("revenue_growth", NUMBER, "Revenue against the period before, minus 1."),
        _derived("measure", TEXT, "The measure behind index and verdict: market share, else penetration, else revenue per customer."),
        _derived("index", NUMBER, "That measure against the chain's, x 100."),
        _derived("verdict", TEXT, "`strong` (interval above the chain), `weak` (below), `as the chain`, or `too few customers to rank` (under `[local] min_customers`)."),
        _derived("rank", INTEGER, "Rank by index, 1 = strongest; NULL for units with too few customers to rank."),
    ),
    natural_key=("level", "unit"),
    ingestible=False,
)

STORE_CLUSTERS = Table(
    "store_clusters",
    "One row per store with sales: its cluster (by catchment demographics and sales mix) from `micromarket local stores`.",
    (
        Column("store_id", TEXT, "Store (see `stores`).", source=False),
        _derived("cluster", INTEGER, "Cluster number."),
        _derived("store_cluster", TEXT, "Cluster name, written from what sets it apart, e.g. `high median income, more cheese`."),
        _derived("description", TEXT, "The cluster's description."),
        _derived("customers", INTEGER, "Customers in the store's catchment."),
        _derived("revenue", NUMBER, "The store's in-store revenue."),
    ),
    natural_key=("store_id",),
    ingestible=False,
)

def _unit_columns(levels: str) -> tuple[Column, ...]:
    """The columns naming an assortment unit: ``level``, ``unit``, ``store_cluster``."""
    return (_derived("level", TEXT, f"{levels}."),
            _derived("unit", TEXT, "Store id, cluster number (see `store_clusters`), or `chain`."),
            _derived("store_cluster", TEXT, "The cluster's name."))


def _test_columns(what: str) -> tuple[Column, ...]:
    """The columns of an over-/under-index test of ``what`` (items or groups)."""
    return (_derived("expected_lines", NUMBER, "Lines expected under the chain's shares (see docs/concepts/local.md)."),
            _derived("index", NUMBER, "Lines against expected, x 100."),
            _derived("p_value", NUMBER, "Two-sided quasi-binomial p-value."),
            _derived("q_value", NUMBER, f"Benjamini-Hochberg q-value over all {what} and units of the level."))


_PERIOD = (_derived("period_start", DATE, "First day of the analysis period."),
           _derived("period_end", DATE, "Last day of the analysis period."))


ASSORTMENT_RECOMMENDATIONS = Table(
    "assortment_recommendations",
    "One row per store cluster or store and item that is in its range, in the core range, or over- or under-indexes significantly, from the last `micromarket local assortment` run.",
    (
        *_unit_columns("`cluster` or `store`"),
        _derived("item_id", TEXT, "Item (product, service or promotion id)."),
        _derived("item_group", TEXT, "The item's group, e.g. `Cheese · premium`; items are compared within it."),
        _derived("lines", NUMBER, "Purchase lines of the item here in the period."),
        *_test_columns("items"),
        _derived("direction", TEXT, "`over` or `under` where significant (own test, or the cluster's when borrowed), else `none`."),
        _derived("evidence", TEXT, "Where the direction comes from: `store`, `cluster` (borrowed), or empty."),
        _derived("in_core", BOOLEAN, "In the chain's core range."),
        _derived("in_range", BOOLEAN, "In the recommended range."),
        _derived("action", TEXT, "`add`, `drop`, `expand`, `reduce`, `keep`, or `not ranged` (a discovery left out)."),
        _derived("predicted_revenue", NUMBER, "Revenue predicted here in a period like this one."),
        _derived("shelf_priority", INTEGER, "Rank within the unit's range and the item's category by predicted revenue, 1 = first."),
        *_PERIOD,
    ),
    natural_key=("level", "unit", "item_id"),
    ingestible=False,
)

ASSORTMENT_SEGMENTS = Table(
    "assortment_segments",
    "One row per store cluster or store and item group (e.g. category and price tier): its share of the unit's sales against the rest of the chain.",
    (
        *_unit_columns("`cluster` or `store`"),
        _derived("item_group", TEXT, "Item group."),
        _derived("lines", NUMBER, "Purchase lines of the group here."),
        *_test_columns("groups"),
        _derived("direction", TEXT, "`over`, `under` or `none`."),
        *_PERIOD,
    ),
    natural_key=("level", "unit", "item_group"),
    ingestible=False,
)

ASSORTMENT_SUMMARY = Table(
    "assortment_summary",
    "One row per store cluster, store and the chain: range size against the core, departures, and the gain from localising.",
    (
        *_unit_columns("`cluster`, `store` or `chain`"),
        _derived("skus", INTEGER, "Items in the recommended range (as many as the core: localising swaps items)."),
        _derived("core_skus", INTEGER, "Items in the chain's core range."),
        _derived("skus_across_stores", INTEGER, "Distinct items across the ranges of the cluster's stores (chain: all stores), the cost side of localising."),
        _derived("adds", INTEGER, "Items ranged outside the core."),
        _derived("drops", INTEGER, "Core items left out."),
        _derived("departure", NUMBER, "Share of the range outside the core (at most `[local] max_departure`)."),
        _derived("capped", INTEGER, "Swaps that would sell more but the departure cap kept out."),
        _derived("predicted_gain", NUMBER, "Predicted revenue of the range minus that of the core range, in a period like this one."),
        _derived("validated_gain", NUMBER, "Out of sample: revenue of the range learnt on the period before, minus the core's, in this period."),
        *_PERIOD,
    ),
    natural_key=("level", "unit"),
    ingestible=False,
)

OFFER_SCORES = Table(
    "offer_scores",
    "One row per customer and offer from the last `micromarket offers` run: uplift learnt from a past campaign whose "
    "groups passed the balance check, and the expected incremental profit of a contact.",
    (
        Column("customer_id", TEXT, "Customer.", source=False),
        _derived("offer", TEXT, "The offer: a treatment arm of the campaign (`treatment`, or `treatment:<variant>`)."),
        _derived("channel", TEXT, "The channel the offer goes out on."),
        _derived("propensity", NUMBER, "Probability of buying within the window without a contact."),
        _derived("uplift", NUMBER, "Estimated increase in that probability from the offer."),
        _derived("discount_depth", NUMBER, "The customer's personal discount depth (0 = none), from their price sensitivity."),
        _derived("discount_cost", NUMBER, "Expected discount given away: P(buy if contacted) x spend of a response x depth."),
        _derived("expected_profit", NUMBER, "Uplift x value of a response - contact cost - discount cost."),
        _derived("campaign_id", TEXT, "The campaign the uplift was learnt from."),
    ),
    natural_key=("customer_id", "offer"),
    ingestible=False,
)

OFFER_PLAN = Table(
    "offer_plan",
    "One row per customer chosen by the last `micromarket offers plan`: at most one offer each, under the budget, consent and contact caps.",
    (
        Column("customer_id", TEXT, "Customer.", source=False),
        _derived("offer", TEXT, "The offer."),
        _derived("channel", TEXT, "Its channel."),
        _derived("uplift", NUMBER, "Estimated uplift."),
        _derived("expected_profit", NUMBER, "Expected incremental profit."),
        _derived("cost", NUMBER, "Contact cost plus the expected discount cost, what the budget pays."),
        _derived("discount_depth", NUMBER, "Discount depth of the offer for this customer (0 = none)."),
        _derived("send_dow", INTEGER, "Day of week to send on (0 = Monday): the customer's most frequent purchase day."),
        _derived("send_hour", INTEGER, "Hour to send at: the customer's most frequent purchase hour."),
    ),
    natural_key=("customer_id",),
    ingestible=False,
)

def _runs(name: str, description: str, summary: str) -> Table:
    """A log of a command's runs: number, time and a JSON ``summary``."""
    return Table(
        name,
        description,
        (
            _derived("run_id", INTEGER, "Run number, increasing."),
            _derived("ran_at", TIMESTAMP, "When it ran."),
            _derived("summary", TEXT, f"{summary}, as JSON text."),
        ),
        natural_key=("run_id",),
        ingestible=False,
    )


OFFER_RUNS = _runs("offer_runs", "One row per `micromarket offers plan` run: the campaign learnt from, its balance "
                   "check, model quality and the comparison with targeting rules.",
                   "Campaign, balance check (SMD per feature), notes (features left out), offers, Qini and AUUC on the "
                   "held-out half, uplift by decile, budget and comparison")

RECOMMENDATIONS = Table(
    "recommendations",
    "One row per customer and rank from the last `micromarket offers recommend`: the items to offer next.",
    (
        Column("customer_id", TEXT, "Customer.", source=False),
        _derived("rank", INTEGER, "1 = best."),
        Column("product_id", TEXT, "Recommended product.", source=False),
        _derived("score", NUMBER, "The model's score (comparable within a customer's list only)."),
        _derived("model", TEXT, "`als`, `bpr`, `item_item`, `buy_again`, `segment_popularity` or `popularity`."),
    ),
    natural_key=("customer_id", "rank"),
    ingestible=False,
)

RECOMMENDATION_RUNS = _runs("recommendation_runs", "One row per `micromarket offers recommend` run: the model chosen "
                            "and every model's check on the time split.",
                            "Model, settings, split dates and precision/recall/NDCG/coverage per model")

PROPENSITY_SCORES = Table(
    "propensity_scores",
    "One row per customer and target of the last `micromarket offers propensity` for that target.",
    (
        Column("customer_id", TEXT, "Customer.", source=False),
        _derived("target", TEXT, "`any`, `category:<name>` or `product:<product_id>`."),
        _derived("probability", NUMBER, "Calibrated probability of buying the target within `days`."),
        _derived("days", INTEGER, "The horizon, days from the day after the last transaction."),
    ),
    natural_key=("customer_id", "target"),
    ingestible=False,
)

PROPENSITY_RUNS = _runs("propensity_runs", "One row per `micromarket offers propensity` run: the target and the "
                        "model's discrimination and calibration on held-out customers.",
                        "Target, horizon, split dates, AUC, Brier score, log loss and calibration curves (raw and calibrated)")

LOCAL_RUNS = _runs("local_runs", "One row per `micromarket local markets`, `local stores` or `local assortment` run: "
                   "what was built, for which period, and the warnings that say where its result is weak.",
                   "Command, level, period, counts, the out-of-sample check, the store clusters' k, silhouette and "
                   "bootstrap stability, and warnings")

TABLES: dict[str, Table] = {
    t.name: t
    for t in (CUSTOMERS, TRANSACTIONS, PRODUCTS, STORES, AREAS, EVENTS, CAMPAIGN_MEMBERS, QUARANTINE, LOADS, ATTRIBUTES,
              CUSTOMER_PROFILE, CUSTOMER_CATEGORY_SHARES, CUSTOMER_CHANNEL_SHARES, PROFILE_RUNS, SEGMENTS, SEGMENT_MEMBERS, SEGMENTATIONS,
              AREA_TYPES, MICRO_MARKETS, STORE_CLUSTERS, ASSORTMENT_RECOMMENDATIONS, ASSORTMENT_SEGMENTS,
              ASSORTMENT_SUMMARY, OFFER_SCORES, OFFER_PLAN, OFFER_RUNS, RECOMMENDATIONS,
              RECOMMENDATION_RUNS, PROPENSITY_SCORES, PROPENSITY_RUNS, LOCAL_RUNS)
}

INGESTIBLE = [name for name, t in TABLES.items() if t.ingestible]


def get_table(name: str) -> Table:
    """Return the canonical table called ``name``.

    Raises
    ------
    SchemaError
        If no canonical table has that name.
    """
    from .exceptions import SchemaError

    try:
        return TABLES[name]
    except KeyError:
        raise SchemaError(
            f"unknown table {name!r}; canonical tables are: {', '.join(TABLES)}"
        ) from None
