"""Generate the demo data set shipped with langchain-embcompare (BEIR format).

Why generated: the demo needs texts in neighbouring topics that small embedding models confuse
(product manager vs product marketing manager, data analyst vs analytics engineer, ...), with
graded relevance labels and filterable metadata, under a clean licence. Every phrase below was written
for this project (CC0). The output is deterministic (seeded), so the committed files can be rebuilt:

    python scripts/make_demo_data.py            # writes langchain_embcompare/data/demo/
    python scripts/make_demo_data.py --check    # exits 1 if the committed files are stale
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

SEED = 20261125
DOCS_PER_ROLE = 25
OUT = Path(__file__).resolve().parents[1] / "langchain_embcompare" / "data" / "demo"


@dataclass(frozen=True)
class Role:
    """One job role: titles it goes by, its family, neighbours (grade-1 relevance) and duties per facet."""

    slug: str
    family: str
    titles: tuple[str, ...]
    neighbours: tuple[str, ...]
    duties: dict[str, tuple[str, ...]]


# "{a|b}" picks one alternative (seeded), so repeated duties vary in wording.
ROLES: tuple[Role, ...] = (
    Role("product_manager", "product", ("product manager", "product owner", "PM"),
         ("product_marketing_manager", "business_analyst"), {
        "roadmap": (
            "Owns the product roadmap and decides what the team builds {next quarter|next}.",
            "Turns company strategy into a roadmap of outcomes rather than a list of features.",
            "Writes the product vision and keeps the roadmap honest as priorities shift.",
        ),
        "discovery": (
            "Runs discovery with customers to find the problems worth solving before anything is built.",
            "Writes problem statements and user stories, then refines them with {engineers|the engineering team}.",
            "Tests ideas with prototypes and fake-door experiments before committing the team.",
        ),
        "prioritisation": (
            "Prioritises the backlog by weighing customer value against engineering effort.",
            "Says no to most feature requests and explains the trade-offs to stakeholders.",
            "Decides the scope of each release and cuts features to protect the {launch date|release date}.",
        ),
        "metrics": (
            "Defines success metrics for every feature and checks adoption after launch.",
            "Owns activation and retention goals and runs A/B tests with the growth team.",
            "Reads usage analytics {every week|weekly} to decide which features to improve or remove.",
        ),
    }),
    Role("product_marketing_manager", "product",
         ("product marketing manager", "product marketer", "PMM"), ("product_manager",), {
        "positioning": (
            "Owns positioning and messaging: how the product is described to the market.",
            "Writes the value proposition and the copy for landing pages and product pages.",
            "Defines which customer segments the product targets and how it is priced against competitors.",
        ),
        "launch": (
            "Plans go-to-market launches for new features, from the announcement blog post to the press briefing.",
            "Works with product managers on launch tiers and decides how loudly each release is announced.",
            "Keeps the launch calendar and writes release notes that customers actually read.",
        ),
        "enablement": (
            "Builds sales enablement material: pitch decks, battlecards and demo scripts.",
            "Trains the sales team on new features and on how to handle {objections|buyer objections}.",
            "Maintains competitive battlecards that compare the product with rival offerings.",
        ),
        "market_research": (
            "Runs win-loss interviews with buyers to learn why deals were won or lost.",
            "Studies the market and competitors and turns the findings into buyer personas.",
            "Surveys customers about their buying journey and the alternatives they considered.",
        ),
    }),
    Role("project_manager", "delivery", ("project manager", "project lead", "delivery manager"),
         ("program_manager",), {
        "schedule": (
            "Builds detailed project plans with milestones, dependencies and a critical path.",
            "Keeps a single project on schedule from kickoff to handover.",
            "Maintains the Gantt chart and re-plans {when a task slips|whenever a task runs late}.",
        ),
        "risk": (
            "Keeps a risk register and escalates issues before they threaten the deadline.",
            "Manages change requests and their impact on scope, time and cost.",
            "Holds the project's RAID log of risks, assumptions, issues and dependencies.",
        ),
        "budget": (
            "Tracks the project budget and vendor invoices against the approved plan.",
            "Negotiates with suppliers and contractors to deliver the project within cost.",
            "Holds a PMP certification and follows a waterfall or hybrid delivery method.",
        ),
        "status": (
            "Runs the weekly status meeting and sends the status report to the sponsor.",
            "Coordinates the daily work of a cross-functional team until the project closes.",
            "Writes the project charter and gets stakeholder sign-off at each phase gate.",
        ),
    }),
    Role("program_manager", "delivery", ("program manager", "programme manager", "technical program manager"),
         ("project_manager",), {
        "cross_team": (
            "Coordinates several related projects across teams so that they land together.",
            "Manages dependencies between a dozen engineering teams working toward one launch.",
            "Aligns engineering, legal and operations on a multi-quarter initiative.",
        ),
        "portfolio": (
            "Oversees a portfolio of projects and decides where shared resources go.",
            "Tracks program-level OKRs and reports progress across all workstreams to executives.",
            "Plans capacity across {teams|several teams} for the next two quarters.",
        ),
        "governance": (
            "Sets up governance for a large initiative: steering committee, decision log and escalation paths.",
            "Runs the quarterly business review for a program that spans many departments.",
            "Defines the operating rhythm of planning cycles, reviews and retrospectives for the organisation.",
        ),
        "operations": (
            "Drives platform migrations that touch many services and teams.",
            "Runs large launches end to end, from readiness reviews to the launch-day war room.",
            "Improves how the engineering organisation plans and delivers work.",
        ),
    }),
    Role("ux_researcher", "product", ("UX researcher", "user researcher", "design researcher"),
         ("ux_designer",), {
        "interviews": (
            "Plans and runs in-depth user interviews to understand how people really work.",
            "Does contextual inquiry, visiting customers to watch them use the product in their own environment.",
            "Recruits participants and writes discussion guides for qualitative studies.",
        ),
        "usability": (
            "Runs usability tests on prototypes and reports where participants got stuck.",
            "Measures task success and time on task in moderated and unmoderated usability studies.",
            "Benchmarks the usability of the product {release over release|from one release to the next}.",
        ),
        "surveys": (
            "Designs surveys and analyses the responses to size user needs across segments.",
            "Combines diary studies and surveys to follow users over several weeks.",
            "Maintains a research panel of customers who are willing to take part in studies.",
        ),
        "synthesis": (
            "Synthesises research findings into insights, journey maps and personas for product teams.",
            "Runs affinity mapping workshops to turn interview notes into themes.",
            "Maintains the research repository so that past findings can be found and reused.",
        ),
    }),
    Role("ux_designer", "product", ("UX designer", "product designer", "interaction designer"),
         ("ux_researcher",), {
        "interaction": (
            "Designs user flows and wireframes for new features.",
            "Designs the information architecture and navigation of a complex app.",
            "Turns requirements into interaction designs that handle edge cases and errors.",
        ),
        "visual": (
            "Produces high-fidelity mockups in Figma with attention to typography and spacing.",
            "Works on accessibility: colour contrast, focus states and screen-reader labels.",
            "Creates icons, illustrations and the visual style of the product.",
        ),
        "prototyping": (
            "Builds clickable prototypes to test ideas with users before engineers start.",
            "Iterates on designs quickly after watching usability sessions.",
            "Hands off designs to developers with specs and reviews the built result.",
        ),
        "design_system": (
            "Maintains the design system: components, tokens and usage guidelines.",
            "Keeps UI patterns consistent across web and mobile.",
            "Runs design critiques and reviews the work of other designers.",
        ),
    }),
    Role("business_analyst", "delivery", ("business analyst", "BA", "systems analyst"),
         ("data_analyst", "product_manager"), {
        "requirements": (
            "Gathers business requirements from stakeholders and writes them up as functional specifications.",
            "Writes user stories with acceptance criteria and keeps the requirements traceable.",
            "Translates what the business needs into clear requirements for the development team.",
        ),
        "process": (
            "Maps current business processes and designs the future state in BPMN.",
            "Finds inefficiencies in operational workflows and proposes process improvements.",
            "Documents how data moves between legacy systems before a replacement project.",
        ),
        "stakeholder": (
            "Runs requirements workshops with finance, operations and IT.",
            "Acts as the bridge between business users and {developers|the developers}.",
            "Does a gap analysis between the current system and a new ERP package.",
        ),
        "testing": (
            "Writes test scenarios and coordinates user acceptance testing with business users.",
            "Checks that delivered features meet the agreed requirements.",
            "Builds simple Excel models to support the business case for a change.",
        ),
    }),
    Role("data_analyst", "data", ("data analyst", "BI analyst", "reporting analyst"),
         ("analytics_engineer", "data_scientist", "business_analyst"), {
        "dashboards": (
            "Builds dashboards in Tableau and Power BI for the sales and operations teams.",
            "Maintains the company's KPI dashboards and explains changes in the numbers.",
            "Designs self-service reports so that managers can answer their own questions.",
        ),
        "sql": (
            "Writes SQL {every day|daily} to pull and clean data from the warehouse.",
            "Joins data from the CRM, billing and product events to build reporting tables.",
            "Checks data quality and reconciles numbers that disagree between systems.",
        ),
        "reporting": (
            "Produces the weekly business report and the monthly board metrics.",
            "Tracks marketing campaign performance and reports on cost per acquisition.",
            "Analyses funnel conversion and presents the findings to stakeholders.",
        ),
        "adhoc": (
            "Answers ad hoc questions from across the business with spreadsheets and SQL.",
            "Does descriptive analysis: what happened, where and for which customers.",
            "Reads A/B test results for the product team and writes a short summary.",
        ),
    }),
    Role("data_scientist", "data", ("data scientist", "applied scientist", "decision scientist"),
         ("data_analyst", "ml_engineer"), {
        "modelling": (
            "Builds predictive models for churn, fraud and customer lifetime value.",
            "Trains gradient-boosted models in Python and explains their predictions to the business.",
            "Does feature engineering and model selection on messy tabular data.",
        ),
        "experiments": (
            "Designs A/B experiments, chooses sample sizes and analyses the results with proper statistics.",
            "Builds the experimentation framework and checks tests for peeking and novelty effects.",
            "Measures causal impact where randomised tests are not possible.",
        ),
        "statistics": (
            "Applies statistical inference, Bayesian methods and causal modelling to business questions.",
            "Uses regression and survival analysis to understand what drives customer behaviour.",
            "Works in Jupyter notebooks with pandas, scikit-learn and statsmodels.",
        ),
        "forecasting": (
            "Builds demand forecasting models for inventory and staffing.",
            "Creates time-series forecasts of revenue and explains their uncertainty.",
            "Prototypes recommendation and ranking models with the product team.",
        ),
    }),
    Role("ml_engineer", "data", ("machine learning engineer", "ML engineer", "MLOps engineer"),
         ("data_scientist", "data_engineer"), {
        "deployment": (
            "Takes models from notebooks to production services with tests and monitoring.",
            "Builds MLOps tooling: a model registry, CI for models and automated retraining.",
            "Packages models in Docker and deploys them on Kubernetes.",
        ),
        "pipelines": (
            "Builds training pipelines that run on GPUs and scale to large data sets.",
            "Maintains the feature store shared by training and online inference.",
            "Writes distributed training jobs in PyTorch.",
        ),
        "serving": (
            "Cuts model inference latency and cost with quantisation, batching and caching.",
            "Monitors production models for drift and performance regressions.",
            "Runs low-latency recommendation and search ranking services in production.",
        ),
        "llm": (
            "Builds retrieval-augmented generation systems with embeddings and vector databases.",
            "Fine-tunes and evaluates language models for search and chat features.",
            "Integrates large language models into products with guardrails and evaluation sets.",
        ),
    }),
    Role("data_engineer", "data", ("data engineer", "data platform engineer", "big data engineer"),
         ("analytics_engineer", "ml_engineer"), {
        "etl": (
            "Builds and maintains ETL pipelines that load data from dozens of sources into the warehouse.",
            "Orchestrates batch jobs with Airflow and makes sure they finish on time.",
            "Writes Spark jobs that process terabytes of event data every day.",
        ),
        "warehouse": (
            "Designs the data warehouse schema in {Snowflake|BigQuery}.",
            "Manages the data lake, its partitioning and file formats such as Parquet.",
            "Owns data ingestion from production databases using change data capture.",
        ),
        "streaming": (
            "Builds streaming pipelines with Kafka and Flink for real-time data.",
            "Designs event schemas and keeps producers and consumers compatible.",
            "Keeps real-time pipelines reliable with alerting and replay.",
        ),
        "infra": (
            "Manages data infrastructure as code with Terraform on the cloud.",
            "Handles data governance, access control and personal-data deletion requests.",
            "Reduces the cost and improves the performance of the data platform.",
        ),
    }),
    Role("analytics_engineer", "data", ("analytics engineer", "analytics developer", "BI engineer"),
         ("data_engineer", "data_analyst"), {
        "dbt": (
            "Builds data models in dbt that turn raw tables into clean, tested datasets.",
            "Applies software engineering practice (version control, code review, CI) to analytics SQL.",
            "Maintains the dbt project and its documentation.",
        ),
        "modelling": (
            "Designs dimensional models, with fact and dimension tables, for analysts to query.",
            "Refactors tangled SQL views into modular, reusable models.",
            "Owns the transformation layer between raw ingestion and the BI tool.",
        ),
        "quality": (
            "Writes data tests for freshness, uniqueness and accepted values.",
            "Investigates broken dashboards and traces bad numbers back to their source models.",
            "Agrees data contracts with the engineering teams that produce the data.",
        ),
        "semantic": (
            "Maintains the semantic layer so that every team calculates revenue the same way.",
            "Defines metrics once in code and exposes them to the BI tools.",
            "Sits between data engineers and data analysts, making data ready for analysis.",
        ),
    }),
)

# Sentences any role could have: shared vocabulary that blurs the boundaries on purpose.
SHARED = (
    "Works closely with engineering, design and marketing.",
    "Comfortable writing SQL to answer their own questions.",
    "Presents progress to leadership every quarter.",
    "Keeps a shared document of decisions and open questions.",
    "Spends time talking to customers every month.",
    "Uses Jira and Confluence {every day|daily}.",
    "Has shipped features used by millions of people.",
    "Likes clear written communication and short meetings.",
    "Has mentored junior colleagues and led hiring loops.",
    "Has worked in both start-ups and large enterprises.",
)

DOMAINS = ("payments", "healthcare", "e-commerce", "logistics", "mobile gaming", "B2B SaaS",
           "retail banking", "travel", "online education", "media streaming", "insurance", "telecoms")

SENIORITY = {"junior": (1, 2), "mid": (3, 5), "senior": (6, 9), "lead": (10, 15)}
SENIORITY_WORD = {"junior": "Junior", "mid": "Mid-level", "senior": "Senior", "lead": "Lead"}

OPENERS_WITH_TITLE = (
    "{Sen} {title} with {years_phrase} of experience in {domain}.",
    "{years_phrase} in {domain}, currently a {sen} {title}.",
    "{Sen} {title} on a {domain} team.",
    "Works as a {title} in {domain}; {years_phrase} of experience.",
)
OPENERS_WITHOUT_TITLE = (
    "{years_phrase} of experience, mostly in {domain}.",
    "{Sen} profile with a background in {domain}.",
    "Has spent {years_phrase} on {domain} products.",
    "Level: {sen}, {years_phrase}, {domain}.",
)
HEADLINES_WITH_TITLE = ("{Sen} {title}, {domain}", "{title_cap} ({domain})")
HEADLINES_WITHOUT_TITLE = ("{domain_cap} team, {years_phrase}", "Profile: {domain}", "{Sen} hire, {domain}")

# Queries: (role, kind, text, facet or min_years). kind "role": grade 2 = role, 1 = neighbours;
# "facet": 2 = role docs with that facet, 1 = the role's other docs;
# "senior": 2 = role docs with years >= min_years, 1 = the role's other docs.
QUERIES: tuple[tuple[str, str, str, str | int | None], ...] = (
    ("product_manager", "role", "Looking for a product manager", None),
    ("product_manager", "facet", "who decides which features get built and in what order", "prioritisation"),
    ("product_manager", "facet", "talks to users to figure out which problems are worth solving", "discovery"),
    ("product_manager", "senior", "experienced product lead with ten or more years", 10),
    ("product_marketing_manager", "role", "product marketing manager profile", None),
    ("product_marketing_manager", "facet", "crafts the messaging and how we describe the product to buyers", "positioning"),
    ("product_marketing_manager", "facet", "prepares the sales team with competitor comparisons and pitch material", "enablement"),
    ("product_marketing_manager", "facet", "finds out why we lose deals to competitors", "market_research"),
    ("project_manager", "role", "project manager", None),
    ("project_manager", "facet", "keeps one project on time and within budget", "budget"),
    ("project_manager", "facet", "tracks risks and escalates problems before the deadline slips", "risk"),
    ("program_manager", "role", "program manager for a large initiative", None),
    ("program_manager", "facet", "coordinates many teams and their dependencies for one big launch", "cross_team"),
    ("program_manager", "senior", "senior programme manager, at least eight years", 8),
    ("ux_researcher", "role", "UX researcher", None),
    ("ux_researcher", "facet", "watches people try a prototype to see where they struggle", "usability"),
    ("ux_researcher", "facet", "turns interview notes into themes and personas", "synthesis"),
    ("ux_designer", "role", "product designer", None),
    ("ux_designer", "facet", "owns the component library and design guidelines", "design_system"),
    ("ux_designer", "facet", "makes polished screens in Figma", "visual"),
    ("business_analyst", "role", "business analyst", None),
    ("business_analyst", "facet", "writes functional specs from stakeholder requirements", "requirements"),
    ("business_analyst", "facet", "models how the business process works today and how it should work", "process"),
    ("business_analyst", "senior", "senior business analyst with 6+ years", 6),
    ("data_analyst", "role", "data analyst", None),
    ("data_analyst", "facet", "builds Tableau dashboards for the operations team", "dashboards"),
    ("data_analyst", "facet", "prepares the numbers for the monthly board meeting", "reporting"),
    ("data_scientist", "role", "data scientist", None),
    ("data_scientist", "facet", "runs controlled experiments and calculates statistical significance", "experiments"),
    ("data_scientist", "facet", "predicts which customers are going to cancel", "modelling"),
    ("data_scientist", "facet", "forecasts future sales and demand", "forecasting"),
    ("data_scientist", "senior", "lead data scientist, over ten years of experience", 10),
    ("ml_engineer", "role", "machine learning engineer", None),
    ("ml_engineer", "facet", "puts trained models into production and keeps them healthy", "deployment"),
    ("ml_engineer", "facet", "builds LLM features with retrieval and vector search", "llm"),
    ("ml_engineer", "facet", "makes model inference faster and cheaper", "serving"),
    ("data_engineer", "role", "data engineer", None),
    ("data_engineer", "facet", "moves data from many source systems into the warehouse every night", "etl"),
    ("data_engineer", "facet", "real-time event pipelines with Kafka", "streaming"),
    ("data_engineer", "senior", "senior data engineer with 6 or more years", 6),
    ("analytics_engineer", "role", "analytics engineer", None),
    ("analytics_engineer", "facet", "writes tested SQL transformations in dbt", "dbt"),
    ("analytics_engineer", "facet", "makes sure revenue is defined the same way in every dashboard", "semantic"),
    ("analytics_engineer", "facet", "catches data problems with automated tests before reports break", "quality"),
)


def _vary(text: str, rng: random.Random) -> str:
    """Resolve every "{a|b}" group to one seeded choice."""
    return re.sub(r"\{([^{}]*\|[^{}]*)\}", lambda m: rng.choice(m.group(1).split("|")), text)


def _fill(template: str, **values: str) -> str:
    text = template.format(**values)
    return text[0].upper() + text[1:]


def make_corpus(rng: random.Random) -> tuple[list[dict], dict[str, list[str]]]:
    """Docs (without ids yet) and, per doc index, the facets it covers."""
    docs: list[dict] = []
    for role in ROLES:
        facets = list(role.duties)
        levels = list(SENIORITY)
        for i in range(DOCS_PER_ROLE):
            seniority = levels[i % len(levels)] if i < 20 else rng.choice(levels)
            years = rng.randint(*SENIORITY[seniority])
            domain = rng.choice(DOMAINS)
            title = rng.choice(role.titles)
            values = {
                "Sen": SENIORITY_WORD[seniority], "sen": SENIORITY_WORD[seniority].lower(),
                "title": title, "title_cap": title[0].upper() + title[1:], "years": str(years),
                "years_phrase": f"{years} year" + ("s" if years > 1 else ""),
                "domain": domain, "domain_cap": domain[0].upper() + domain[1:],
            }
            with_title = rng.random() < 0.5
            opener = rng.choice(OPENERS_WITH_TITLE if with_title else OPENERS_WITHOUT_TITLE)
            headline = rng.choice(HEADLINES_WITH_TITLE if rng.random() < 0.4 else HEADLINES_WITHOUT_TITLE)
            picked = rng.sample(facets, 2) if rng.random() < 0.7 else [rng.choice(facets)]
            sentences = [_fill(opener, **values)]
            if len(picked) == 2:
                sentences += [_vary(rng.choice(role.duties[f]), rng) for f in picked]
            else:
                sentences += [_vary(s, rng) for s in rng.sample(role.duties[picked[0]], 2)]
            if rng.random() < 0.45:
                sentences.append(_vary(rng.choice(SHARED), rng))
            docs.append({
                "title": _fill(headline, **values),
                "text": " ".join(sentences),
                "metadata": {"category": role.slug, "family": role.family, "seniority": seniority,
                             "years": years},
                "_facets": sorted(set(picked)),
            })
    return docs, {}


def make_qrels(docs: list[dict]) -> list[tuple[str, str, int]]:
    """Graded labels from each query's rule (see QUERIES)."""
    neighbours = {r.slug: r.neighbours for r in ROLES}
    rows: list[tuple[str, str, int]] = []
    for qi, (role, kind, _text, arg) in enumerate(QUERIES, start=1):
        qid = f"q{qi:02d}"
        for doc in docs:
            cat = doc["metadata"]["category"]
            grade = 0
            if kind == "role":
                grade = 2 if cat == role else 1 if cat in neighbours[role] else 0
            elif cat == role:
                if kind == "facet":
                    grade = 2 if arg in doc["_facets"] else 1
                else:  # senior
                    grade = 2 if doc["metadata"]["years"] >= int(arg) else 1
            if grade:
                rows.append((qid, doc["_id"], grade))
    return rows


def build() -> dict[str, str]:
    """File name -> file content, deterministic."""
    rng = random.Random(SEED)
    docs, _ = make_corpus(rng)
    rng.shuffle(docs)  # ids carry no hint of the category
    for n, doc in enumerate(docs, start=1):
        doc["_id"] = f"d{n:03d}"
    qrels = make_qrels(docs)
    corpus = "".join(
        json.dumps({"_id": d["_id"], "title": d["title"], "text": d["text"], "metadata": d["metadata"]},
                   ensure_ascii=False) + "\n" for d in docs)
    queries = "".join(
        json.dumps({"_id": f"q{i:02d}", "text": q[2], "metadata": {"category": q[0], "kind": q[1]}},
                   ensure_ascii=False) + "\n" for i, q in enumerate(QUERIES, start=1))
    tsv = "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{g}\n" for q, d, g in qrels)
    return {"corpus.jsonl": corpus, "queries.jsonl": queries, "qrels/test.tsv": tsv}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="fail if files on disk differ")
    args = parser.parse_args(argv)
    files = build()
    stale = [name for name, text in files.items()
             if not (args.out / name).exists() or (args.out / name).read_text(encoding="utf-8") != text]
    if args.check:
        if stale:
            print(f"stale demo data: {', '.join(stale)}; run python scripts/make_demo_data.py", file=sys.stderr)
            return 1
        return 0
    for name, text in files.items():
        path = args.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    n_docs = files["corpus.jsonl"].count("\n")
    n_q = files["queries.jsonl"].count("\n")
    n_rel = files["qrels/test.tsv"].count("\n") - 1
    print(f"wrote {n_docs} docs, {n_q} queries, {n_rel} qrels to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
