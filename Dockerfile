# One image for both roles (ROLE=web / ROLE=worker), on Node 24 LTS.

# Build stage: compile TypeScript with dev dependencies.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY sim ./sim
RUN npm run build

# Runtime stage: production dependencies and compiled code only, as a non-root user. The ranking chart's text needs a
# font (resvg reads the system's): DejaVu Sans.
FROM node:24-bookworm-slim
ENV NODE_ENV=production
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/install-production.sh ./scripts/
RUN sh scripts/install-production.sh && npm cache clean --force
COPY --from=build /app/dist ./dist
# The shipped rules and calendars; in production mount your own over /app/config (docker-compose.yml does).
COPY config ./config
USER node
EXPOSE 3000
# Both roles answer /health/live on PORT (a worker serves health and metrics only).
HEALTHCHECK --interval=30s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/live').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
CMD ["node", "dist/src/main.js"]
