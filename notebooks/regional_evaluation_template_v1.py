# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Reducing Parental Conflict: regional evaluation report
#
# *Version 1, frozen. Analysis plan: `analysis_plans/regional_evaluation_template_v1.md`.*
#
# The standard report for an LA, or a group of LAs, that collected its data in the
# regional collection workbook (`rpc-eval template`). It shows who was referred and how
# far they engaged, how parents' outcomes changed, and what parents and practitioners
# said. Every table has been through disclosure control: counts of fewer people than
# the plan's threshold are shown as [c].

# %% tags=["parameters"]
plan_path = "analysis_plans/regional_evaluation_template_v1.yaml"
data_path = None
out_dir = None

# %%
from rpc_eval.change import outcome_tables
from rpc_eval.engagement import engagement_analysis
from rpc_eval.monitoring import monitoring_analysis
from rpc_eval.multilevel import multilevel_analysis
from rpc_eval.report import notebook as nb
from rpc_eval.report.data_section import data_section
from rpc_eval.report.engagement_section import engagement_section
from rpc_eval.report.monitoring_section import monitoring_section
from rpc_eval.report.multilevel_section import multilevel_section
from rpc_eval.report.outcomes_section import outcomes_section
from rpc_eval.report.pooling_section import pooling_section

rpt = nb.open_report(plan_path, out_dir)
plan = rpt.plan
data = nb.load_report_data(plan, data_path)
data_section(rpt, data, source=str(data_path or plan["data"]["path"]))

# %% [markdown]
# ## Referrals and engagement

# %%
engagement, note = nb.attempt("The engagement section", engagement_analysis, data,
                              **nb.engagement_kwargs(plan))
note or engagement_section(rpt, engagement, plan["engagement"]["analyses"])

# %% [markdown]
# ## Parents' outcomes
#
# Change between baseline and the end of the intervention for parents who answered both
# questionnaires. Without a comparison group this is preliminary evidence, not proof,
# that the interventions caused the change.

# %%
outcomes, note = nb.attempt("The outcomes section", outcome_tables, data,
                            **nb.outcome_kwargs(plan))
note or outcomes_section(rpt, outcomes, by=plan["engagement"]["group"])

# %% [markdown]
# ## Local authorities
#
# With data from several LAs, the multilevel model shows how much outcomes vary between
# LAs. With one LA's data this section is left out: pool LAs' summaries instead
# (`rpc-eval summarise` and `rpc-eval pool`).

# %%
multilevel, note = nb.attempt("The multilevel section", multilevel_analysis, data,
                              **nb.multilevel_kwargs(plan))
note or multilevel_section(rpt, multilevel)

# %% [markdown]
# ## Pooling across LAs: two ways to the same answer
#
# A regional evaluation can pool LAs without sharing families' records: each LA writes
# an aggregate summary (`rpc-eval summarise`) and the summaries are pooled by a
# random-effects meta-analysis (`rpc-eval pool`). With the records of several LAs in
# one place, the same question can be answered in one stage by a multilevel model of
# the change scores. The two should agree closely; this table shows both on these data.

# %%
comparison, note = nb.attempt("The pooling comparison", nb.pooling_comparison, data, plan)
note or pooling_section(rpt, comparison)

# %% [markdown]
# ## Satisfaction and training

# %%
monitoring = monitoring_analysis(data, **nb.monitoring_kwargs(plan))
monitoring_section(rpt, monitoring, satisfaction="satisfaction" in plan.spec,
                   training=plan.get("training", {}).get("include", False),
                   planning_tool=plan.get("planning_tool", {}).get("include", False))

# %% [markdown]
# ## Limitations
#
# Pre/post change without a comparison group is preliminary evidence of effect, not proof:
# parents often improve after a crisis whatever help they get. Parents who did not answer
# the end questionnaire may differ from those who did. Small numbers are suppressed, so
# some rows show [c].

# %%
rpt.table("disclosure_summary", rpt.disclosure_summary(),
          "Disclosure control: cells suppressed in each table")

# %%
outputs = rpt.finish()
print(f"{len(rpt.tables)} tables and {len(rpt.figures)} figures written.")
