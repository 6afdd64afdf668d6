/** CDK app entry (cdk.json: `node --import tsx bin/imagegate.ts`). */
import { App } from 'aws-cdk-lib';
import { buildApp } from '../lib/app.ts';

const app = new App();
buildApp(app);
app.synth();
