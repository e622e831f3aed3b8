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
# # RPC Local Grant evaluation: interim report tables
#
# *Version 1, frozen. Analysis plan: `analysis_plans/interim_report_v1.md`.*
#
# This notebook rebuilds Tables 1, 2, 3, 5, 6 and 7 of the interim report of the Reducing
# Parental Conflict Local Grant evaluation (DWP research report 1059, 2024) by counting
# row-level case-study records: interviews, planning-tool answers, interventions named in
# interviews and workshop sign-ups. The records in `synthetic_data/interim_case_studies/`
# are synthetic, built so that counting them gives the published tables; their README
# explains how, and which quirks of the published tables are reproduced. Table 4 is a
# diagram of stages and has no counts.

# %% tags=["parameters"]
plan_path = "analysis_plans/interim_report_v1.yaml"
data_path = None
out_dir = None

# %%
from rpc_eval.report import notebook as nb
from rpc_eval.report.interim_section import interim_section

rpt = nb.open_report(plan_path, out_dir)
plan = rpt.plan
case_studies = nb.load_report_data(plan, data_path)

# %% [markdown]
# ## Fieldwork and partnership working
#
# Table 1 counts the people interviewed, once each, by their role. Tables 2 and 3 count
# the case-study LAs' planning-tool answers about their partners (one answer per partner
# sector and LA; one LA answered for education in two parts, so that row sums to ten).

# %%
interim_section(rpt, case_studies, [t for t in plan["interim_tables"]
                                    if t in ("table_1", "table_2", "table_3")])

# %% [markdown]
# ## Interventions, workshops and the case-study areas
#
# Table 5 counts the LAs delivering each conflict-focused intervention; Table 6 counts the
# LAs signed up to, and attending, each early-stage workshop; Table 7 lists the case-study
# areas with their published attributes.

# %%
interim_section(rpt, case_studies, [t for t in plan["interim_tables"]
                                    if t in ("table_5", "table_6", "table_7")])

# %% [markdown]
# ## Disclosure control
#
# Table 1 counts people and is checked against the plan's threshold; the other tables
# count LAs or their answers and are published as they are, as the plan sets out.

# %%
rpt.table("disclosure_summary", rpt.disclosure_summary(),
          "Disclosure control: cells suppressed in each table")

# %%
outputs = rpt.finish(cover=[("Source", "DWP research report 1059 (2024), interim report "
                             "of the RPC Local Grant evaluation; tables recomputed from "
                             "synthetic case-study records")])
print(f"{len(rpt.tables)} tables written.")
