"""The user and merchant record fields a transaction is joined with (as the columns they become), for
features, the scored history and the alert service's context view. Free of Spark, so all can import it."""

USER_COLUMNS = {"age": "user_age", "gender": "user_gender", "lat": "user_lat", "lon": "user_lon",
                "signup_date": "user_signup_date"}  # fmt: skip
MERCHANT_COLUMNS = {"category": "merchant_category", "country": "merchant_country", "lat": "merchant_lat",
                    "lon": "merchant_lon", "created_at": "merchant_created_at"}  # fmt: skip
