"""Structured JSON logging (AWS Lambda Powertools), one logger for the app."""
from aws_lambda_powertools import Logger

logger = Logger(service="async-catalog")
