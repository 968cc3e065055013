"""Writes the small example tables used in the README tour (seeded; rerun to regenerate them).

customers.csv / other.csv / new_rows.csv: a 3-class plan (basic/standard/premium) from numbers, a
category and missing values; new_rows.csv has no label and one region never seen in training.
songs.csv: a multilabel table with three 0/1 mood_* columns.
"""

from pathlib import Path

import numpy as np
import pandas as pd

here = Path(__file__).parent
rng = np.random.default_rng(0)
n = 1500
age = rng.integers(18, 80, n).astype(float)
income = rng.lognormal(10, 0.5, n).round(2)
region = rng.choice(["north", "south", "east", "west"], n)
usage = rng.normal(50, 15, n).round(1)
score = 0.04 * (age - 50) + (np.log(income) - 10) * 2 + (region == "north") + 0.03 * (usage - 50) + rng.normal(0, .5, n)
plan = np.where(score > 0.8, "premium", np.where(score > -0.5, "standard", "basic"))
customers = pd.DataFrame(dict(age=age, income=income, region=region, usage=usage, plan=plan))
customers.loc[rng.random(n) < 0.1, "income"] = np.nan
customers.loc[rng.random(n) < 0.05, "region"] = np.nan
customers.iloc[:1200].to_csv(here / "customers.csv", index=False)
customers.iloc[1200:].to_csv(here / "other.csv", index=False)
new_rows = customers.iloc[1200:1210].drop(columns="plan").copy()
new_rows.iloc[0, new_rows.columns.get_loc("region")] = "antarctica"
new_rows.to_csv(here / "new_rows.csv", index=False)

X = rng.normal(size=(800, 6)).round(3)
songs = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
songs["genre"] = rng.choice(["rock", "pop", "jazz"], 800)
songs["mood_happy"] = (X[:, 0] + X[:, 1] > 0).astype(int)
songs["mood_sad"] = (X[:, 2] > 0.5).astype(int)
songs["mood_calm"] = ((songs.genre == "jazz") | (X[:, 3] > 1)).astype(int)
songs.to_csv(here / "songs.csv", index=False)

# churn.csv: an ordinary customer table as it comes out of a CRM, with the columns that mislead a naive model:
# an id (unique per row), a row number, a signup date (tenure matters), missing values, and 1,319 customers
# who stayed against 170 who churned. churn_new.csv: new customers to score, with their ids.
n = 1489
rng = np.random.default_rng(7)
signup = pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 2000, n), "D")
tenure_years = (pd.Timestamp("2024-06-30") - signup).days / 365.25
contract = rng.choice(["monthly", "yearly", "two-year"], n, p=[0.5, 0.3, 0.2])
charges = rng.normal(70, 20, n).clip(15, 150).round(2)
calls = rng.poisson(1.2, n)
age = rng.integers(18, 85, n).astype(float)
risk = (1.5 * (contract == "monthly") - 0.8 * (contract == "two-year") + 0.03 * (charges - 70) + 0.5 * calls
        - 0.45 * tenure_years - 0.01 * (age - 45))
churned = np.zeros(n, bool)
churned[np.argsort(-(risk + rng.gumbel(0, 0.9, n)))[:170]] = True  # exactly 170 churned
churn = pd.DataFrame({
    "row_num": np.arange(1, n + 1),
    "customer_id": [f"CUST-{k:06d}" for k in rng.choice(10**6, n, replace=False)],
    "signup_date": signup.strftime("%Y-%m-%d"),
    "contract": contract, "monthly_charges": charges, "support_calls": calls, "age": age,
    "status": np.where(churned, "churned", "stayed"),
})
churn.loc[rng.random(n) < 0.08, "monthly_charges"] = np.nan
churn.loc[rng.random(n) < 0.05, "age"] = np.nan
churn.to_csv(here / "churn.csv", index=False)
churn.sample(20, random_state=1).drop(columns=["status", "row_num"]).to_csv(here / "churn_new.csv", index=False)
