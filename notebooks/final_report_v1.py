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
# # Reducing Parental Conflict programme: final evaluation report
#
# *Version 1, frozen. It follows the analysis plan `analysis_plans/final_report_v1.md`
# (machine-readable settings: `final_report_v1.yaml`). A change to the analysis is a new
# version of this notebook and of the plan; this one keeps running as published.*
#
# This report describes who was referred to the programme's interventions and how far
# they engaged, what changed for parents between the start and the end of their
# intervention, how local authorities (LAs) compare once chance is allowed for, and what
# parents and practitioners said. Every table is also in the accessible spreadsheet
# (ODS) and as CSV; every number in them has been through disclosure control.

# %% tags=["parameters"]
plan_path = "analysis_plans/final_report_v1.yaml"
data_path = None
out_dir = None

# %%
from IPython.display import display

from rpc_eval.change import outcome_tables
from rpc_eval.change.sensitivity import attrition_analysis
from rpc_eval.engagement import engagement_analysis
from rpc_eval.monitoring import monitoring_analysis
from rpc_eval.multilevel import multilevel_analysis
from rpc_eval.report import notebook as nb
from rpc_eval.report.data_section import data_section
from rpc_eval.report.engagement_section import engagement_section
from rpc_eval.report.monitoring_section import monitoring_section
from rpc_eval.report.multilevel_section import multilevel_section
from rpc_eval.report.outcomes_section import attrition_section, outcomes_section

rpt = nb.open_report(plan_path, out_dir)
plan = rpt.plan
data = nb.load_report_data(plan, data_path)
data_section(rpt, data, source=str(data_path or plan["data"]["path"]))

# %% [markdown]
# ## Engagement
#
# The funnel follows parents from referral to the end of their intervention. Retention
# and the competing exits (dropping out or completing) are counted in sessions attended,
# the unit providers act on. The Cox model compares the rate of dropping out between
# interventions; the Fine-Gray model compares the chance of completing, allowing for
# those who dropped out first.

# %%
engagement = engagement_analysis(data, **nb.engagement_kwargs(plan))
engagement_section(rpt, engagement, plan["engagement"]["analyses"])

# %% [markdown]
# ## Outcomes
#
# Change between baseline and the end of the intervention for parents who answered both
# questionnaires, with effect sizes and the share of parents whose change is larger than
# the measurement error of the questionnaire (reliable change).

# %%
outcomes = outcome_tables(data, **nb.outcome_kwargs(plan))
outcomes_section(rpt, outcomes, by=plan["engagement"]["group"])

# %% [markdown]
# ### By subgroup

# %%
for subgroup in plan.get("subgroups", []):
    display(outcomes_section(rpt, outcome_tables(data, **nb.outcome_kwargs(plan, by=subgroup)),
                             by=subgroup, title=f"Outcomes by {subgroup.replace('_', ' ')}",
                             suffix=f"_by_{subgroup}"))

# %% [markdown]
# ### Loss to follow-up
#
# Parents who did not answer the end-of-intervention questionnaire are compared with those
# who did, and the primary outcome is re-estimated by multiple imputation, which assumes
# that missing answers depend only on what was recorded (missing at random).

# %%
attrition = attrition_analysis(data, **nb.attrition_kwargs(plan))
attrition_section(rpt, attrition)

# %% [markdown]
# ## Local authorities
#
# Parents are nested in LAs. The multilevel model separates differences between LAs from
# differences between parents; the intra-class correlation (ICC) says how much of the
# variation lies between LAs. LA comparisons allow for chance: the caterpillar plot shows
# each LA's estimated effect with its uncertainty, and the funnel plot shows which LAs'
# completion rates lie further from the average than chance would explain.

# %%
multilevel = multilevel_analysis(data, **nb.multilevel_kwargs(plan))
multilevel_section(rpt, multilevel)

# %% [markdown]
# ## Satisfaction, training and planning

# %%
monitoring = monitoring_analysis(data, **nb.monitoring_kwargs(plan))
monitoring_section(rpt, monitoring, satisfaction="satisfaction" in plan.spec,
                   training=plan.get("training", {}).get("include", False),
                   planning_tool=plan.get("planning_tool", {}).get("include", False))

# %% [markdown]
# ## Limitations
#
# - **No comparison group.** Change between baseline and the end of an intervention is not
#   the effect of the intervention: parents referred at a difficult time may improve
#   anyway (regression to the mean), and other things change in their lives. Pre/post
#   change is preliminary evidence of effect, not proof; a comparison group or a
#   randomised design is needed to attribute change to the programme.
# - **Loss to follow-up.** Many parents did not answer the end questionnaire; the
#   multiple-imputation analysis shows how much the answer depends on those who did, under
#   the assumption that missing answers depend only on recorded characteristics.
# - **Clustering.** The paired intervals in the outcome tables treat parents as
#   independent; the multilevel model allows for LAs.
# - **Self-report.** Outcomes are parents' own answers to questionnaires.
# - **Synthetic data.** This build of the report uses synthetic data with known true
#   values, so its numbers describe no real family, LA or intervention.

# %% [markdown]
# ## Disclosure control
#
# Counts of fewer people than the plan's threshold are suppressed ([c]), along with the
# cells that would let them be worked out from totals and the figures resting on them.
# The log below lists every suppressed cell.

# %%
rpt.table("disclosure_summary", rpt.disclosure_summary(),
          "Disclosure control: cells suppressed in each table")

# %%
outputs = rpt.finish()
print(f"{len(rpt.tables)} tables and {len(rpt.figures)} figures written.")
